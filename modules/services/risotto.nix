# risotto, the BMP collector: routers open BMP sessions to it (TCP), it
# produces curated Update rows to Kafka.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.nxthdr.risotto;
  nxlib = import ./lib.nix { inherit lib; };
  format = pkgs.formats.yaml { };
  unit = "risotto";

  configFile = nxlib.checkedConfig {
    inherit pkgs format;
    name = "risotto.yaml";
    inherit (cfg) settings;
    check = "${lib.getExe' cfg.package "risotto"} --check-config --config";
  };
in
{
  options.services.nxthdr.risotto = {
    enable = lib.mkEnableOption "risotto, the nxthdr BMP collector";

    package = lib.mkPackageOption pkgs "nxthdr" { };

    settings = lib.mkOption {
      description = ''
        risotto configuration (schemas/risotto.config.schema.json), rendered
        to YAML and checked with `risotto --check-config` at build time.
      '';
      default = { };
      type = lib.types.submodule {
        freeformType = format.type;
        options = {
          bmp.address = lib.mkOption {
            type = lib.types.str;
            default = "[::]:4000";
            description = "BMP listener (TCP), `host:port` or `[v6]:port`; `[::]` is dual stack.";
          };
          metrics.address = lib.mkOption {
            type = lib.types.str;
            default = "[::]:8080";
            description = "Prometheus endpoint (`/metrics`, `/health`).";
          };
          kafka.brokers = lib.mkOption {
            type = lib.types.str;
            default = "localhost:9092";
            description = "Kafka bootstrap brokers, comma-separated `host:port`.";
          };
          kafka.topic = lib.mkOption {
            type = lib.types.str;
            default = "risotto-updates";
            description = "Kafka topic of the Update rows.";
          };
          curation.state_path = lib.mkOption {
            type = lib.types.str;
            default = "/var/lib/risotto/state.bin";
            description = "Curation state file, kept in the unit's StateDirectory across restarts.";
          };
        };
      };
    };

    kafkaPasswordFile = nxlib.saslPasswordFileOption unit;

    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Open the BMP port (from `settings.bmp.address`) to routers.";
    };

    openMetricsFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Open the metrics port (from `settings.metrics.address`) for a remote Prometheus.";
    };
  };

  config = lib.mkIf cfg.enable {
    services.nxthdr.risotto.settings.kafka.auth_sasl_password_file = lib.mkIf (
      cfg.kafkaPasswordFile != null
    ) (nxlib.credentialPath unit "kafka-password");

    systemd.services.risotto = {
      description = "risotto BMP collector";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [
        "network-online.target"
        "apache-kafka.service"
      ];
      restartTriggers = [ configFile ];
      serviceConfig = nxlib.hardening // {
        ExecStart = "${lib.getExe' cfg.package "risotto"} --config ${configFile}";
        # The curation state (state.bin) survives restarts here.
        StateDirectory = "risotto";
        WorkingDirectory = "/var/lib/risotto";
        LoadCredential = lib.optional (
          cfg.kafkaPasswordFile != null
        ) "kafka-password:${cfg.kafkaPasswordFile}";
        # SIGTERM flushes Kafka and writes the state file: give it time.
        TimeoutStopSec = 60;
      };
    };

    networking.firewall.allowedTCPPorts =
      lib.optional cfg.openFirewall (nxlib.portOf cfg.settings.bmp.address)
      ++ lib.optional cfg.openMetricsFirewall (nxlib.portOf cfg.settings.metrics.address);
  };
}
