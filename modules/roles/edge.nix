# Monitoring of the edge hosts (ixp, vlt): a local Prometheus scrapes this
# host's exporters and programs and pushes to the core (remote write through
# Caddy, basic auth with a password file); Alloy pushes the journal to the
# core's Loki the same way (same user, the host name, and password).
{
  config,
  lib,
  ...
}:
let
  cfg = config.nxthdr.edge;
  inherit (config.nxthdr.inventory) platform;
in
{
  options.nxthdr.edge = {
    scrapeTargets = lib.mkOption {
      type = lib.types.attrsOf (lib.types.listOf lib.types.str);
      default = { };
      description = "Prometheus jobs of this host: job name -> `host:port` targets.";
    };
    pushPasswordFile = lib.mkOption {
      type = lib.types.str;
      default = "${config.nxthdr.secretsDir}/prometheus-push-password";
      defaultText = lib.literalExpression ''"''${config.nxthdr.secretsDir}/prometheus-push-password"'';
      description = ''
        Password of this host's push user on the core (user = host name), read
        at run time by Prometheus (remote write) and by Alloy (Loki push, as a
        systemd credential). The core's Caddy holds its bcrypt hash.
      '';
    };
  };

  config = {
    nxthdr.edge.scrapeTargets.node = [ "[::1]:${toString config.services.prometheus.exporters.node.port}" ];

    services.prometheus = {
      enable = true;
      listenAddress = "[::1]";
      # Only a buffer: the core keeps the history.
      retentionTime = "2d";
      globalConfig.external_labels.host = config.networking.hostName;
      scrapeConfigs = lib.mapAttrsToList (job: targets: {
        job_name = job;
        static_configs = [ { inherit targets; } ];
      }) cfg.scrapeTargets;
      remoteWrite = [
        {
          url = "https://prometheus.${platform.domain}/api/v1/write";
          basic_auth = {
            username = config.networking.hostName;
            password_file = cfg.pushPasswordFile;
          };
        }
      ];
    };

    # modules/observability/loki/write-remote.alloy reads these variables.
    environment.etc."alloy/write.alloy".source = ../observability/loki/write-remote.alloy;
    systemd.services.alloy = {
      environment = {
        LOKI_PUSH_URL = "https://loki.${platform.domain}/loki/api/v1/push";
        LOKI_PUSH_USERNAME = config.networking.hostName;
        LOKI_PUSH_PASSWORD_FILE = "/run/credentials/alloy.service/push-password";
      };
      serviceConfig.LoadCredential = [ "push-password:${cfg.pushPasswordFile}" ];
    };
  };
}
