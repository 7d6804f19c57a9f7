# pesto, the sFlow collector: exporters send sFlow v5 datagrams (UDP), it
# produces one SFlowFlowRecord per flow sample to Kafka.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.nxthdr.pesto;
  nxlib = import ./lib.nix { inherit lib; };
  format = pkgs.formats.yaml { };
  unit = "pesto";

  configFile = nxlib.checkedConfig {
    inherit pkgs format;
    name = "pesto.yaml";
    inherit (cfg) settings;
    check = "${lib.getExe' cfg.package "pesto"} --check-config --config";
  };
in
{
  options.services.nxthdr.pesto = {
    enable = lib.mkEnableOption "pesto, the nxthdr sFlow collector";

    package = lib.mkPackageOption pkgs "nxthdr" { };

    settings = lib.mkOption {
      description = ''
        pesto configuration (schemas/pesto.config.schema.json), rendered to
        YAML and checked with `pesto --check-config` at build time.
      '';
      default = { };
      type = lib.types.submodule {
        freeformType = format.type;
        options = {
          sflow.address = lib.mkOption {
            type = lib.types.str;
            default = "[::]:6343";
            description = "sFlow listener (UDP); `[::]` also receives from IPv4 exporters.";
          };
          sflow.receive_buffer = lib.mkOption {
            type = lib.types.ints.positive;
            default = 8388608;
            description = "Kernel receive buffer per socket (bytes); `net.core.rmem_max` is raised to match.";
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
            default = "pesto-sflow";
            description = "Kafka topic of the flow records.";
          };
        };
      };
    };

    kafkaPasswordFile = nxlib.saslPasswordFileOption unit;

    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Open the sFlow port (from `settings.sflow.address`) to exporters.";
    };

    openMetricsFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Open the metrics port (from `settings.metrics.address`) for a remote Prometheus.";
    };
  };

  config = lib.mkIf cfg.enable {
    services.nxthdr.pesto.settings.kafka.auth_sasl_password_file = lib.mkIf (
      cfg.kafkaPasswordFile != null
    ) (nxlib.credentialPath unit "kafka-password");

    # SO_RCVBUF is capped by rmem_max for an unprivileged process; raising the
    # cap beats granting CAP_NET_ADMIN (SO_RCVBUFFORCE).
    boot.kernel.sysctl."net.core.rmem_max" = lib.mkDefault cfg.settings.sflow.receive_buffer;

    systemd.services.pesto = {
      description = "pesto sFlow collector";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [
        "network-online.target"
        "apache-kafka.service"
      ];
      restartTriggers = [ configFile ];
      serviceConfig = nxlib.hardening // {
        ExecStart = "${lib.getExe' cfg.package "pesto"} --config ${configFile}";
        LoadCredential = lib.optional (
          cfg.kafkaPasswordFile != null
        ) "kafka-password:${cfg.kafkaPasswordFile}";
        TimeoutStopSec = 60;
      };
    };

    networking.firewall.allowedUDPPorts = lib.optional cfg.openFirewall (
      nxlib.portOf cfg.settings.sflow.address
    );
    networking.firewall.allowedTCPPorts = lib.optional cfg.openMetricsFirewall (
      nxlib.portOf cfg.settings.metrics.address
    );
  };
}
