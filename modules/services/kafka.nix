# The platform's Kafka broker on nixpkgs' services.apache-kafka (KRaft, one
# node): an internal plaintext listener for the collectors, the gateway and
# ClickHouse; an external SASL/SCRAM-SHA-512 listener for remote probing
# agents, with one user and its ACLs per agent; topics created at start.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.nxthdr.kafka;
  kafka = config.services.apache-kafka.package;
  jmx = cfg.jmxExporter;
  jmxJar = "${jmx.package}/lib/jmx_prometheus_javaagent-${jmx.package.version}.jar";
  bootstrap = "localhost:${toString cfg.internalPort}";

  userOptions =
    { name, ... }:
    {
      options = {
        passwordFile = lib.mkOption {
          type = lib.types.str;
          description = "File holding the user's SCRAM password (read on the host at start, never stored in Nix).";
        };
        consume = lib.mkOption {
          type = lib.types.listOf lib.types.str;
          default = [ ];
          description = "Topics the user may read.";
        };
        produce = lib.mkOption {
          type = lib.types.listOf lib.types.str;
          default = [ ];
          description = "Topics the user may write.";
        };
        groups = lib.mkOption {
          type = lib.types.listOf lib.types.str;
          default = [ "saimiris-agent-${name}" ];
          defaultText = lib.literalExpression ''[ "saimiris-agent-''${name}" ]'';
          description = "Consumer groups the user may use.";
        };
      };
    };

  topicOptions = {
    options = {
      partitions = lib.mkOption {
        type = lib.types.ints.positive;
        default = 1;
        description = "Partitions of the topic.";
      };
      config = lib.mkOption {
        type = lib.types.attrsOf lib.types.str;
        default = { };
        example = {
          "retention.ms" = "86400000";
        };
        description = "Topic-level configuration.";
      };
    };
  };

  acl = principal: args: ''
    ${kafka}/bin/kafka-acls.sh --bootstrap-server ${bootstrap} --add \
      --allow-principal 'User:${principal}' ${args}
  '';

  setupScript = pkgs.writeShellScript "nxthdr-kafka-setup" ''
    set -euo pipefail
    # The broker answers a while after its unit is up.
    for _ in $(seq 60); do
      ${kafka}/bin/kafka-topics.sh --bootstrap-server ${bootstrap} --list > /dev/null 2>&1 && break
      sleep 2
    done
    ${lib.concatStrings (
      lib.mapAttrsToList (topic: t: ''
        ${kafka}/bin/kafka-topics.sh --bootstrap-server ${bootstrap} --create --if-not-exists \
          --topic '${topic}' --partitions ${toString t.partitions} --replication-factor 1 \
          ${lib.concatMapStrings (c: "--config '${c}' ") (lib.mapAttrsToList (k: v: "${k}=${v}") t.config)}
      '') cfg.topics
    )}
    umask 077
    ${lib.concatStrings (
      lib.mapAttrsToList (user: u: ''
        # The password goes through a private file, not the command line.
        # kafka-configs parses SCRAM-SHA-512=[password=...] itself: `,` `]`
        # and `=` would cut the value, so such a password is refused here
        # rather than stored truncated.
        pw="$(cat "$CREDENTIALS_DIRECTORY/user-${user}")"
        case "$pw" in
          *,* | *]* | *=* | "")
            echo "nxthdr-kafka-setup: the password of ${user} is empty or contains , ] or =, which kafka-configs cannot take" >&2
            exit 1
            ;;
        esac
        printf 'SCRAM-SHA-512=[password=%s]\n' "$pw" \
          > "$RUNTIME_DIRECTORY/scram.properties"
        ${kafka}/bin/kafka-configs.sh --bootstrap-server ${bootstrap} --alter \
          --entity-type users --entity-name '${user}' --add-config-file "$RUNTIME_DIRECTORY/scram.properties"
        rm -f "$RUNTIME_DIRECTORY/scram.properties"
        ${lib.concatMapStrings (topic: acl user "--operation Read --operation Describe --topic '${topic}'") u.consume}
        ${lib.concatMapStrings (topic: acl user "--operation Write --operation Describe --topic '${topic}'") u.produce}
        ${lib.concatMapStrings (group: acl user "--operation Read --group '${group}'") u.groups}
      '') cfg.users
    )}
  '';
in
{
  options.services.nxthdr.kafka = {
    enable = lib.mkEnableOption "the nxthdr Kafka broker (Apache Kafka in KRaft mode)";

    clusterId = lib.mkOption {
      type = (import ./lib.nix { inherit lib; }).kraftClusterId;
      example = "ak2fIHr4S8WWarOF_ODD0g";
      description = "KRaft cluster id (`kafka-storage.sh random-uuid`); log dirs are formatted with it once.";
    };

    internalPort = lib.mkOption {
      type = lib.types.port;
      default = 9092;
      description = "Plaintext listener on localhost, for the programs on this host (no authentication).";
    };

    controllerPort = lib.mkOption {
      type = lib.types.port;
      default = 9094;
      description = "KRaft controller listener on localhost.";
    };

    external = {
      enable = lib.mkEnableOption "the SASL/SCRAM-SHA-512 listener for remote agents";
      port = lib.mkOption {
        type = lib.types.port;
        default = 9093;
        description = "Port of the external listener.";
      };
      advertisedHost = lib.mkOption {
        type = lib.types.str;
        example = "kafka.nxthdr.dev";
        description = "Host name remote clients reach the broker at.";
      };
      openFirewall = lib.mkOption {
        type = lib.types.bool;
        default = false;
        description = "Open the external listener's port.";
      };
    };

    topics = lib.mkOption {
      type = lib.types.attrsOf (lib.types.submodule topicOptions);
      default = {
        risotto-updates = { };
        risotto-events = { };
        pesto-sflow = { };
        saimiris-probes = { };
        saimiris-replies = { };
      };
      description = "Topics created (if missing) once the broker is up.";
    };

    jmxExporter = {
      enable = lib.mkEnableOption "the Prometheus JMX exporter java agent in the broker's JVM (`/metrics`)";
      package = lib.mkPackageOption pkgs "prometheus-jmx-javaagent" { };
      address = lib.mkOption {
        type = lib.types.str;
        default = "127.0.0.1";
        description = "Address the exporter listens on.";
      };
      port = lib.mkOption {
        type = lib.types.port;
        default = 7071;
        description = "Port of the exporter's `/metrics`.";
      };
      rules = lib.mkOption {
        type = lib.types.path;
        default = ../observability/kafka/jmx-exporter.yaml;
        defaultText = lib.literalExpression "modules/observability/kafka/jmx-exporter.yaml";
        description = "Exporter configuration: which MBeans become which metrics (the Kafka dashboard's names).";
      };
    };

    users = lib.mkOption {
      type = lib.types.attrsOf (lib.types.submodule userOptions);
      default = { };
      example = lib.literalExpression ''
        {
          vltcdg01 = {
            passwordFile = "/run/secrets/kafka-vltcdg01";
            consume = [ "saimiris-probes" ];
            produce = [ "saimiris-replies" ];
          };
        }
      '';
      description = "SCRAM-SHA-512 users of the external listener, with the ACLs they get.";
    };
  };

  config = lib.mkIf cfg.enable {
    services.apache-kafka = {
      enable = true;
      inherit (cfg) clusterId;
      formatLogDirs = true;
      # -javaagent:<jar>=<host>:<port>:<config>
      jvmOptions = lib.mkIf jmx.enable [ "-javaagent:${jmxJar}=${jmx.address}:${toString jmx.port}:${jmx.rules}" ];
      settings = {
        "node.id" = 1;
        "process.roles" = [
          "broker"
          "controller"
        ];
        "log.dirs" = [ "/var/lib/apache-kafka" ];
        "controller.quorum.voters" = [ "1@localhost:${toString cfg.controllerPort}" ];
        "controller.listener.names" = [ "CONTROLLER" ];
        "inter.broker.listener.name" = "INTERNAL";
        listeners = [
          "INTERNAL://localhost:${toString cfg.internalPort}"
          "CONTROLLER://localhost:${toString cfg.controllerPort}"
        ]
        ++ lib.optional cfg.external.enable "EXTERNAL://[::]:${toString cfg.external.port}";
        "advertised.listeners" = [
          "INTERNAL://localhost:${toString cfg.internalPort}"
        ]
        ++ lib.optional cfg.external.enable "EXTERNAL://${cfg.external.advertisedHost}:${toString cfg.external.port}";
        "listener.security.protocol.map" = [
          "INTERNAL:PLAINTEXT"
          "CONTROLLER:PLAINTEXT"
          "EXTERNAL:SASL_PLAINTEXT"
        ];
        "sasl.enabled.mechanisms" = [ "SCRAM-SHA-512" ];
        "listener.name.external.scram-sha-512.sasl.jaas.config" =
          "org.apache.kafka.common.security.scram.ScramLoginModule required;";
        # ACLs guard the external listener; local clients (plaintext, on
        # localhost only) are ANONYMOUS and trusted. super.users is
        # semicolon-separated, so it is a string, not a list.
        "authorizer.class.name" = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";
        "super.users" = "User:ANONYMOUS";
        "allow.everyone.if.no.acl.found" = false;
        "auto.create.topics.enable" = false;
        "offsets.topic.replication.factor" = 1;
        "transaction.state.log.replication.factor" = 1;
        "transaction.state.log.min.isr" = 1;
      };
    };

    systemd.services.nxthdr-kafka-setup = {
      description = "nxthdr Kafka topics, SCRAM users and ACLs";
      wantedBy = [ "multi-user.target" ];
      requires = [ "apache-kafka.service" ];
      after = [ "apache-kafka.service" ];
      restartTriggers = [ setupScript ];
      # A slow first broker start must not fail the setup for good.
      startLimitIntervalSec = 600;
      startLimitBurst = 10;
      serviceConfig = {
        Type = "oneshot";
        Restart = "on-failure";
        RestartSec = 15;
        RemainAfterExit = true;
        ExecStart = setupScript;
        DynamicUser = true;
        RuntimeDirectory = "nxthdr-kafka-setup";
        LoadCredential = lib.mapAttrsToList (user: u: "user-${user}:${u.passwordFile}") cfg.users;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        NoNewPrivileges = true;
        CapabilityBoundingSet = [ "" ];
        RestrictAddressFamilies = [
          "AF_INET"
          "AF_INET6"
          "AF_UNIX"
        ];
      };
    };

    networking.firewall.allowedTCPPorts = lib.optional (
      cfg.external.enable && cfg.external.openFirewall
    ) cfg.external.port;
  };
}
