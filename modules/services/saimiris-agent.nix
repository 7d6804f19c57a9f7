# saimiris agent, the probing agent: reads probes from Kafka, sends them from
# raw sockets, captures the replies and produces them to Kafka.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.nxthdr.saimiris-agent;
  nxlib = import ./lib.nix { inherit lib; };
  format = pkgs.formats.yaml { };
  unit = "saimiris-agent";
  credential = nxlib.credentialPath unit;

  configFile = nxlib.checkedConfig {
    inherit pkgs format;
    name = "saimiris-agent.yaml";
    inherit (cfg) settings;
    check = "${lib.getExe' cfg.package "saimiris"} agent --check-config --config";
  };

  credentials = lib.filterAttrs (_: file: file != null) {
    agent-key = cfg.agentKeyFile;
    agent-secret = cfg.agentSecretFile;
    kafka-password = cfg.kafkaPasswordFile;
  };
in
{
  options.services.nxthdr.saimiris-agent = {
    enable = lib.mkEnableOption "the saimiris probing agent";

    package = lib.mkPackageOption pkgs "nxthdr" { };

    settings = lib.mkOption {
      description = ''
        Agent configuration (schemas/saimiris-agent.config.schema.json),
        rendered to YAML and checked with `saimiris agent --check-config` at
        build time. Prober instances are the `caracat` list.
      '';
      default = { };
      example = lib.literalExpression ''
        {
          caracat = [
            { name = "anycast"; instance_id = 0; src_ipv6_prefix = "2a0e:97c0:8a0::/48"; probing_rate = 10000; }
            { name = "unicast"; instance_id = 1; src_ipv6_prefix = "2a0e:97c0:8a3::/48"; probing_rate = 10000; }
          ];
        }
      '';
      type = lib.types.submodule {
        freeformType = format.type;
        options = {
          agent.id = lib.mkOption {
            type = lib.types.str;
            default = config.networking.hostName;
            defaultText = lib.literalExpression "config.networking.hostName";
            description = "Agent id: the agent acts on Kafka messages carrying a header with this key.";
          };
          agent.metrics_address = lib.mkOption {
            type = lib.types.str;
            default = "[::]:8080";
            description = "Prometheus endpoint (`/metrics`, `/health`).";
          };
          kafka.brokers = lib.mkOption {
            type = lib.types.str;
            default = "localhost:9092";
            description = "Kafka bootstrap brokers, comma-separated `host:port`.";
          };
          kafka.in_group_id = lib.mkOption {
            type = lib.types.str;
            default = "saimiris-agent-${cfg.settings.agent.id}";
            defaultText = lib.literalExpression ''"saimiris-agent-''${settings.agent.id}"'';
            description = "Consumer group: one per agent, every agent reads every probe record.";
          };
        };
      };
    };

    agentKeyFile = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      description = "File holding the gateway's shared agent key (`gateway.agent_key_file`).";
    };

    agentSecretFile = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      description = "File holding this agent's secret, registered with the gateway (`gateway.agent_secret_file`).";
    };

    kafkaPasswordFile = nxlib.saslPasswordFileOption unit;

    openMetricsFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Open the metrics port (from `settings.agent.metrics_address`) for a remote Prometheus.";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion =
          !(lib.hasAttrByPath [ "gateway" "agent_key" ] cfg.settings)
          && !(lib.hasAttrByPath [ "gateway" "agent_secret" ] cfg.settings);
        message = "services.nxthdr.saimiris-agent: use agentKeyFile/agentSecretFile, not literal keys in settings (they would land in the Nix store).";
      }
    ];

    services.nxthdr.saimiris-agent.settings = {
      gateway.agent_key_file = lib.mkIf (cfg.agentKeyFile != null) (credential "agent-key");
      gateway.agent_secret_file = lib.mkIf (cfg.agentSecretFile != null) (credential "agent-secret");
      kafka.auth_sasl_password_file = lib.mkIf (cfg.kafkaPasswordFile != null) (
        credential "kafka-password"
      );
    };

    systemd.services.saimiris-agent = {
      description = "saimiris probing agent";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      restartTriggers = [ configFile ];
      serviceConfig = nxlib.hardening // {
        ExecStart = "${lib.getExe' cfg.package "saimiris"} agent --config ${configFile}";
        LoadCredential = lib.mapAttrsToList (name: file: "${name}:${file}") credentials;
        # Probes leave through raw sockets and replies are captured with
        # AF_PACKET: CAP_NET_RAW is the one capability the agent needs.
        # PrivateUsers would strip it (capabilities inside a user namespace
        # do not reach the host's network stack), so it stays off here.
        CapabilityBoundingSet = [ "CAP_NET_RAW" ];
        AmbientCapabilities = [ "CAP_NET_RAW" ];
        PrivateUsers = false;
        RestrictAddressFamilies = [
          "AF_INET"
          "AF_INET6"
          "AF_UNIX"
          "AF_PACKET"
        ];
        # Interfaces, addresses and routes are read from /proc/net.
        ProcSubset = "all";
        TimeoutStopSec = 30;
      };
    };

    networking.firewall.allowedTCPPorts = lib.optional cfg.openMetricsFirewall (
      nxlib.portOf cfg.settings.agent.metrics_address
    );
  };
}
