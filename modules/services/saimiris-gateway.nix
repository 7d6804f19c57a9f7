# saimiris gateway, the measurement API: users submit probes, agents register;
# probes go to Kafka, state lives in PostgreSQL.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.nxthdr.saimiris-gateway;
  nxlib = import ./lib.nix { inherit lib; };
  format = pkgs.formats.yaml { };
  unit = "saimiris-gateway";
  credential = nxlib.credentialPath unit;

  configFile = nxlib.checkedConfig {
    inherit pkgs format;
    name = "saimiris-gateway.yaml";
    inherit (cfg) settings;
    check = "${lib.getExe' cfg.package "saimiris"} gateway --check-config --config";
  };

  credentials = lib.filterAttrs (_: file: file != null) {
    agent-key = cfg.agentKeyFile;
    kafka-password = cfg.kafkaPasswordFile;
    database-password = cfg.databasePasswordFile;
  };
in
{
  options.services.nxthdr.saimiris-gateway = {
    enable = lib.mkEnableOption "the saimiris gateway (nxthdr measurement API)";

    package = lib.mkPackageOption pkgs "nxthdr" { };

    settings = lib.mkOption {
      description = ''
        Gateway configuration (schemas/saimiris-gateway.config.schema.json),
        rendered to YAML and checked with `saimiris gateway --check-config`
        at build time. `auth.issuer` and `auth.audience` are required unless
        `auth.dev_mode` is set.
      '';
      default = { };
      type = lib.types.submodule {
        freeformType = format.type;
        options = {
          gateway.address = lib.mkOption {
            type = lib.types.str;
            default = "127.0.0.1:8080";
            description = "API listener; loopback by default, published through a reverse proxy.";
          };
          metrics.address = lib.mkOption {
            type = lib.types.str;
            default = "127.0.0.1:9091";
            description = "Prometheus endpoint, a listener of its own (9091: Prometheus itself uses 9090).";
          };
          kafka.brokers = lib.mkOption {
            type = lib.types.str;
            default = "localhost:9092";
            description = "Kafka bootstrap brokers, comma-separated `host:port`.";
          };
          kafka.topic = lib.mkOption {
            type = lib.types.str;
            default = "saimiris-probes";
            description = "Topic the agents read probes from.";
          };
          database.url = lib.mkOption {
            type = lib.types.str;
            default = "postgresql:///${unit}?host=/run/postgresql";
            description = ''
              State database. The default is the local PostgreSQL over its
              Unix socket with peer authentication (see `database.createLocally`).
            '';
          };
        };
      };
    };

    database.createLocally = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = ''
        Create the `${unit}` database and role on the local PostgreSQL
        (peer authentication: the unit's dynamic user has the same name).
      '';
    };

    agentKeyFile = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "/run/secrets/saimiris-agent-key";
      description = "File holding the shared bearer key of the agent API (`auth.agent_key_file`).";
    };

    databasePasswordFile = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      description = "File holding the PostgreSQL password, for a remote database (`database.password_file`).";
    };

    kafkaPasswordFile = nxlib.saslPasswordFileOption unit;

    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Open the API port (from `settings.gateway.address`); normally the reverse proxy is the only client.";
    };
  };

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
        assertions = [
          {
            assertion = cfg.agentKeyFile != null || lib.hasAttrByPath [ "auth" "agent_key_file" ] cfg.settings;
            message = "services.nxthdr.saimiris-gateway.agentKeyFile must be set (the agents' shared key).";
          }
          {
            assertion = !(lib.hasAttrByPath [ "auth" "agent_key" ] cfg.settings);
            message = "services.nxthdr.saimiris-gateway: use agentKeyFile, not settings.auth.agent_key (it would land in the Nix store).";
          }
        ];

        services.nxthdr.saimiris-gateway.settings = {
          auth.agent_key_file = lib.mkIf (cfg.agentKeyFile != null) (credential "agent-key");
          kafka.auth_sasl_password_file = lib.mkIf (cfg.kafkaPasswordFile != null) (
            credential "kafka-password"
          );
          database.password_file = lib.mkIf (cfg.databasePasswordFile != null) (
            credential "database-password"
          );
        };

        systemd.services.saimiris-gateway = {
          description = "saimiris gateway (measurement API)";
          wantedBy = [ "multi-user.target" ];
          wants = [ "network-online.target" ];
          after = [
            "network-online.target"
            "apache-kafka.service"
            "postgresql.service"
          ];
          restartTriggers = [ configFile ];
          serviceConfig = nxlib.hardening // {
            ExecStart = "${lib.getExe' cfg.package "saimiris"} gateway --config ${configFile}";
            LoadCredential = lib.mapAttrsToList (name: file: "${name}:${file}") credentials;
            TimeoutStopSec = 30;
          };
        };

        networking.firewall.allowedTCPPorts = lib.optional cfg.openFirewall (
          nxlib.portOf cfg.settings.gateway.address
        );
      }

      (lib.mkIf cfg.database.createLocally {
        services.postgresql = {
          enable = true;
          ensureDatabases = [ unit ];
          ensureUsers = [
            {
              name = unit;
              ensureDBOwnership = true;
            }
          ];
        };
        # nixpkgs 26.05 runs ensureDatabases/ensureUsers in
        # postgresql-setup.service (nixos/modules/services/databases/postgresql.nix),
        # not in postgresql.service's ExecStartPost any more.
        systemd.services.saimiris-gateway.requires = [ "postgresql-setup.service" ];
        systemd.services.saimiris-gateway.after = [ "postgresql-setup.service" ];
      })
    ]
  );
}
