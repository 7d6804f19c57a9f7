# The core role: storage (ClickHouse, Kafka, PostgreSQL), the collectors and
# the measurement API, monitoring (Prometheus, Alertmanager, Loki, Grafana),
# Caddy in front of the public services, Headscale, the geofeed, and BIRD
# announcing the core's prefix to the IXP hosts over WireGuard.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.nxthdr.core;
  host = config.nxthdr.host;
  inv = config.nxthdr.inventory;
  inherit (inv) platform;
  inherit (platform) domain;
  secret = name: "${config.nxthdr.secretsDir}/${name}";
  ixps = lib.filterAttrs (_: h: h.role == "ixp") inv.hosts;
  vlts = lib.filterAttrs (_: h: h.role == "vlt") inv.hosts;

  # Where the observability helper keeps alert rules and dashboards.
  observability = ../observability;
  rulesDir = observability + "/prometheus/rules";
  dashboardsDir = observability + "/grafana/dashboards";
  # Grafana's datasources as the observability files define them: Prometheus,
  # Loki and ClickHouse on 127.0.0.1 (their listeners below follow it), the
  # ClickHouse password from $GRAFANA_CLICKHOUSE_PASSWORD.
  datasourcesFile = observability + "/grafana/provisioning/datasources.yaml";
  edges = lib.filterAttrs (_: h: h.role != "core") inv.hosts;
  # One basic-auth user per edge host (its name), for both pushes; the bcrypt
  # hash of its password is PUSH_HASH_<host> in the Caddy environment file.
  pushUsers = lib.concatMapStrings (name: "    ${name} {$PUSH_HASH_${name}}\n") (lib.attrNames edges);

  ports = {
    gateway = 8080;
    risottoMetrics = 8081;
    pestoMetrics = 8082;
    gatewayMetrics = 9091;
    prometheus = 9090;
    alertmanager = 9095;
    grafana = 3000;
    loki = 3100;
    headscale = 8085;
    headscaleMetrics = 9098;
    kafkaJmx = 7071;
  };

  geofeed = pkgs.runCommand "nxthdr-geofeed" { } ''
    mkdir -p $out
    ${lib.getExe pkgs.nxthdr} geofeed ${cfg.inventoryFile} > $out/geofeed.csv
  '';

  local = port: "[::1]:${toString port}";
  loopback4 = port: "127.0.0.1:${toString port}";
in
{
  imports = [ ./common.nix ];

  options.nxthdr.core = {
    inventoryFile = lib.mkOption {
      type = lib.types.path;
      default = ../../hosts/inventory.toml;
      description = "Inventory the geofeed is generated from.";
    };
    ruleFiles = lib.mkOption {
      type = lib.types.listOf lib.types.path;
      default = lib.optionals (builtins.pathExists rulesDir) (
        map (f: rulesDir + "/${f}") (
          lib.filter (lib.hasSuffix ".yaml") (lib.attrNames (builtins.readDir rulesDir))
        )
      );
      defaultText = lib.literalExpression "modules/observability/prometheus/rules/*.yaml";
      description = "Prometheus alert rule files.";
    };
    dashboardsDir = lib.mkOption {
      type = lib.types.nullOr lib.types.path;
      default = if builtins.pathExists dashboardsDir then dashboardsDir else null;
      defaultText = lib.literalExpression "modules/observability/grafana/dashboards";
      description = "Directory of Grafana dashboards (JSON) provisioned read-only.";
    };
    kafkaClusterId = lib.mkOption {
      type = (import ../services/lib.nix { inherit lib; }).kraftClusterId;
      # kafka-storage.sh random-uuid: base64url of 16 bytes.
      default = "bnh0aGRyLWthZmthLTAxAA";
      description = "KRaft cluster id of the platform's broker.";
    };
    wireguardKeyFile = lib.mkOption {
      type = lib.types.str;
      default = secret "wireguard-key";
      description = "The core's WireGuard private key.";
    };
    grafanaClickhouseEnvFile = lib.mkOption {
      type = lib.types.str;
      default = secret "grafana-clickhouse-env";
      defaultText = lib.literalExpression ''"''${config.nxthdr.secretsDir}/grafana-clickhouse-env"'';
      description = ''
        `GRAFANA_CLICKHOUSE_PASSWORD=...`: the password of ClickHouse's read-only
        `grafana` user, an EnvironmentFile of both clickhouse.service and grafana.service.
      '';
    };
  };

  config = {
    # --- storage ------------------------------------------------------------
    services.nxthdr.kafka = {
      enable = true;
      clusterId = cfg.kafkaClusterId;
      external = {
        enable = true;
        advertisedHost = "kafka.${domain}";
        openFirewall = true;
      };
      # One SCRAM user per probing agent, named after its host.
      users = lib.mapAttrs (name: _: {
        passwordFile = secret "kafka-agent-${name}";
        consume = [ "saimiris-probes" ];
        produce = [ "saimiris-replies" ];
      }) vlts;
      # Broker metrics for the Kafka dashboard (modules/observability/kafka).
      jmxExporter = {
        enable = true;
        port = ports.kafkaJmx;
      };
    };

    services.nxthdr.clickhouse = {
      enable = true;
      grafanaUser = {
        enable = true;
        environmentFile = cfg.grafanaClickhouseEnvFile;
      };
    };

    # --- collectors and API -------------------------------------------------
    services.nxthdr.risotto = {
      enable = true;
      openFirewall = true;
      settings.metrics.address = local ports.risottoMetrics;
    };
    services.nxthdr.pesto = {
      enable = true;
      openFirewall = true;
      settings.metrics.address = local ports.pestoMetrics;
    };
    services.nxthdr.saimiris-gateway = {
      enable = true;
      agentKeyFile = secret "saimiris-agent-key";
      settings = {
        gateway.address = "127.0.0.1:${toString ports.gateway}";
        metrics.address = "127.0.0.1:${toString ports.gatewayMetrics}";
        auth = {
          issuer = lib.mkDefault "https://auth.${domain}/oidc";
          audience = lib.mkDefault "https://api.${domain}";
        };
      };
    };

    # --- monitoring ---------------------------------------------------------
    services.prometheus = {
      enable = true;
      # Where Grafana's datasource file expects it.
      listenAddress = "127.0.0.1";
      port = ports.prometheus;
      # Edge hosts push through Caddy (basic auth) to /api/v1/write.
      extraFlags = [ "--web.enable-remote-write-receiver" ];
      retentionTime = "90d";
      inherit (cfg) ruleFiles;
      alertmanagers = [ { static_configs = [ { targets = [ (local ports.alertmanager) ]; } ]; } ];
      # Job names are the ones the alert rules and dashboards select on
      # (modules/observability/README.md); edge hosts push theirs.
      scrapeConfigs =
        lib.mapAttrsToList
          (job: target: {
            job_name = job;
            static_configs = [ { targets = [ target ]; } ];
          })
          {
            node = local config.services.prometheus.exporters.node.port;
            bird = local config.services.prometheus.exporters.bird.port;
            risotto = local ports.risottoMetrics;
            pesto = local ports.pestoMetrics;
            saimiris-gateway = loopback4 ports.gatewayMetrics;
            kafka = "${config.services.nxthdr.kafka.jmxExporter.address}:${toString ports.kafkaJmx}";
            clickhouse = local config.services.nxthdr.clickhouse.prometheusPort;
            prometheus = loopback4 ports.prometheus;
          };
      exporters.bird = {
        enable = true;
        listenAddress = "[::1]";
      };
      alertmanager = {
        enable = true;
        listenAddress = "[::1]";
        port = ports.alertmanager;
        # One node: no HA gossip listener (it would take 9094, Kafka's controller port).
        extraFlags = [ "--cluster.listen-address=" ];
        # Receivers (mail, chat) are site data; the file holds their secrets
        # as environment variables for the configuration's $VARIABLES.
        environmentFile = secret "alertmanager-env";
        configuration = {
          route = {
            receiver = "operators";
            group_by = [
              "alertname"
              "host"
            ];
          };
          receivers = [ { name = "operators"; } ];
        };
      };
    };

    # Single-node Loki as modules/observability/loki/loki.yaml describes it
    # (127.0.0.1:3100, filesystem storage in /var/lib/loki, 31 days).
    services.loki = {
      enable = true;
      configFile = observability + "/loki/loki.yaml";
    };

    # The core's own journal goes straight to Loki.
    environment.etc."alloy/write.alloy".source = observability + "/loki/write-local.alloy";

    services.grafana = {
      enable = true;
      # Plugin for the ClickHouse datasource; without it the dashboards' SQL panels cannot load.
      declarativePlugins = [ pkgs.grafanaPlugins.grafana-clickhouse-datasource ];
      settings = {
        server = {
          http_addr = "::1";
          http_port = ports.grafana;
          domain = "grafana.${domain}";
          root_url = "https://grafana.${domain}/";
        };
        security = {
          secret_key = "$__file{${secret "grafana-secret-key"}}";
          admin_password = "$__file{${secret "grafana-admin-password"}}";
        };
        analytics.reporting_enabled = false;
      };
      provision = {
        enable = true;
        datasources.path = datasourcesFile;
        # modules/observability/grafana/provisioning/dashboards.yaml, with the
        # dashboards directory in the store as its path.
        dashboards.settings.providers = lib.optional (cfg.dashboardsDir != null) {
          name = "nxthdr";
          folder = "nxthdr";
          type = "file";
          disableDeletion = true;
          allowUiUpdates = false;
          updateIntervalSeconds = 60;
          options = {
            path = cfg.dashboardsDir;
            foldersFromFilesStructure = false;
          };
        };
      };
    };

    # The datasource file reads $GRAFANA_CLICKHOUSE_PASSWORD.
    systemd.services.grafana.serviceConfig.EnvironmentFile = [ cfg.grafanaClickhouseEnvFile ];

    # --- public front -------------------------------------------------------
    services.caddy = {
      enable = true;
      email = "noc@${domain}";
      # PUSH_HASH_<edge host>: bcrypt hash (caddy hash-password) of that host's
      # push password (its nxthdr.edge.pushPasswordFile), one line per edge host.
      environmentFile = secret "caddy-env";
      virtualHosts = {
        "api.${domain}".extraConfig = "reverse_proxy 127.0.0.1:${toString ports.gateway}";
        "grafana.${domain}".extraConfig = "reverse_proxy ${local ports.grafana}";
        "headscale.${domain}".extraConfig = "reverse_proxy 127.0.0.1:${toString ports.headscale}";
        "prometheus.${domain}".extraConfig = ''
          # Only remote write is public; the rest of the API is not proxied.
          @write path /api/v1/write
          handle @write {
            basic_auth {
            ${pushUsers}    }
            reverse_proxy ${loopback4 ports.prometheus}
          }
          respond 404
        '';
        "loki.${domain}".extraConfig = ''
          basic_auth {
          ${pushUsers}  }
          reverse_proxy ${loopback4 ports.loki}
        '';
        "geofeed.${domain}".extraConfig = ''
          root * ${geofeed}
          rewrite / /geofeed.csv
          file_server
        '';
      };
    };
    networking.firewall.allowedTCPPorts = [
      80
      443
    ];
    # BGP with the IXP hosts, on the tunnel only.
    networking.firewall.interfaces.wg-ixp.allowedTCPPorts = [ 179 ];

    services.headscale = {
      enable = true;
      # listen_addr is "address:port": an IPv6 literal would need brackets.
      address = "127.0.0.1";
      port = ports.headscale;
      settings = {
        server_url = "https://headscale.${domain}";
        # Must differ from the server_url domain.
        dns.base_domain = "ts.${domain}";
        # override_local_dns defaults to true, and nixpkgs' headscale module
        # (nixos/modules/services/networking/headscale.nix) then asserts
        # that the global nameservers are non-empty.
        dns.nameservers.global = inv.platform.nameservers;
        # Off Prometheus's 9090 (headscale's default metrics address).
        metrics_listen_addr = "127.0.0.1:${toString ports.headscaleMetrics}";
      };
    };

    # --- routing: the core's prefix announced to the IXP hosts ---------------
    networking.interfaces.${host.interface}.ipv6.addresses = [
      {
        address = host.backend_address;
        prefixLength = lib.toInt (lib.last (lib.splitString "/" platform.backend_prefix));
      }
    ];
    networking.wireguard.interfaces.wg-ixp = {
      ips = lib.mapAttrsToList (
        _: h: "${h.wireguard.core_address}/${toString h.wireguard.prefix_length}"
      ) ixps;
      listenPort = host.wireguard.port;
      privateKeyFile = cfg.wireguardKeyFile;
      peers = lib.mapAttrsToList (_: h: {
        publicKey = h.wireguard.public_key;
        allowedIPs = [ "${h.wireguard.address}/128" ];
        endpoint = "[${h.public_address}]:${toString h.wireguard.port}";
      }) ixps;
    };
    networking.firewall.allowedUDPPorts = [ host.wireguard.port ];

    services.bird = {
      enable = true;
      config = ''
        router id ${host.router_id};

        protocol device {}

        protocol static core_prefixes {
          ipv6;
          ${lib.concatMapStrings (p: "route ${p} unreachable;\n      ") host.announces}
        }

        ${lib.concatStrings (
          lib.mapAttrsToList (name: h: ''
            protocol bgp ${name} {
              local ${h.wireguard.core_address} as ${toString platform.core_asn};
              neighbor ${h.wireguard.address} as ${toString platform.asn};
              ipv6 {
                import none;
                export where proto = "core_prefixes";
              };
            }
          '') ixps
        )}
      '';
    };
  };
}
