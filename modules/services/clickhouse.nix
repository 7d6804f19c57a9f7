# ClickHouse for the platform, on top of nixpkgs' services.clickhouse: listen
# addresses, the Cap'n Proto format schemas, a read-only user for public
# queries, the Prometheus endpoint, and the storage migration (Kafka tables,
# storage tables, materialized views) run by `nxthdr clickhouse migrate`.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.nxthdr.clickhouse;
  format = pkgs.formats.yaml { };

  # ClickHouse reads `format_schema` files (update.capnp:Update...) from
  # here: the Cap'n Proto schemas the collectors write with, from the package.
  formatSchemas = "${cfg.package}/share/nxthdr/schemas";

  migrateConfig = format.generate "nxthdr-clickhouse.yaml" cfg.migrate.settings;
in
{
  options.services.nxthdr.clickhouse = {
    enable = lib.mkEnableOption "ClickHouse set up for the nxthdr platform (on services.clickhouse)";

    package = lib.mkPackageOption pkgs "nxthdr" { };

    listenAddresses = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [
        "::1"
        "127.0.0.1"
      ];
      example = [ "::" ];
      description = "Addresses ClickHouse listens on (`listen_host`).";
    };

    httpPort = lib.mkOption {
      type = lib.types.port;
      default = 8123;
      description = "HTTP interface port.";
    };

    tcpPort = lib.mkOption {
      type = lib.types.port;
      default = 9000;
      description = "Native protocol port (Grafana's ClickHouse data source uses it).";
    };

    prometheusPort = lib.mkOption {
      type = lib.types.port;
      default = 9363;
      description = "Port of ClickHouse's own Prometheus endpoint (`/metrics`).";
    };

    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Open the HTTP and native ports (nixpkgs' module has no such option).";
    };

    readOnlyUser = {
      enable = lib.mkEnableOption "a password-less read-only user for public queries" // {
        default = true;
      };
      name = lib.mkOption {
        type = lib.types.str;
        default = "public";
        description = "Name of the read-only user.";
      };
      networks = lib.mkOption {
        type = lib.types.listOf lib.types.str;
        default = [ "::/0" ];
        description = "Networks the read-only user may connect from.";
      };
      databases = lib.mkOption {
        type = lib.types.listOf lib.types.str;
        default = [
          "bmp"
          "flows"
          "saimiris"
        ];
        description = "Databases the read-only user may SELECT from.";
      };
      limits = lib.mkOption {
        type = lib.types.attrsOf (lib.types.either lib.types.int lib.types.str);
        default = {
          max_execution_time = 60;
          max_memory_usage = 10000000000;
          max_rows_to_read = 10000000000;
          max_result_rows = 1000000;
          result_overflow_mode = "throw";
          max_concurrent_queries_for_user = 4;
        };
        description = "Settings of the read-only profile (besides `readonly = 2`).";
      };
      queriesPerHour = lib.mkOption {
        type = lib.types.ints.unsigned;
        default = 1000;
        description = "Queries per hour allowed to the read-only user (quota).";
      };
    };

    grafanaUser = {
      enable = lib.mkEnableOption "a read-only user with a password for Grafana's ClickHouse data source";
      name = lib.mkOption {
        type = lib.types.str;
        default = "grafana";
        description = "Name of the user (the data source's `username`).";
      };
      environmentFile = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        example = "/run/secrets/grafana-clickhouse-env";
        description = ''
          File with the line `GRAFANA_CLICKHOUSE_PASSWORD=...`, given to
          clickhouse.service as an EnvironmentFile: the user's password is read
          from that variable (`from_env`), so it never enters the Nix store.
          Grafana gets the same file (its data source reads the same variable).
        '';
      };
    };

    migrate = {
      enable = lib.mkEnableOption "the storage migration after clickhouse.service" // {
        default = true;
      };
      settings = lib.mkOption {
        type = lib.types.submodule { freeformType = format.type; };
        default = { };
        description = ''
          Configuration of `nxthdr clickhouse migrate`
          (schemas/clickhouse.config.schema.json): ClickHouse URL, Kafka
          brokers, and per database its topic, consumer group and retention.
        '';
      };
    };
  };

  config = lib.mkIf cfg.enable {
    services.clickhouse = {
      enable = true;
      serverConfig = {
        listen_host = cfg.listenAddresses;
        http_port = cfg.httpPort;
        tcp_port = cfg.tcpPort;
        format_schema_path = "${formatSchemas}/";
        prometheus = {
          endpoint = "/metrics";
          port = cfg.prometheusPort;
          metrics = true;
          events = true;
          asynchronous_metrics = true;
        };
      };
      usersConfig = lib.mkIf cfg.readOnlyUser.enable {
        profiles.${cfg.readOnlyUser.name} = cfg.readOnlyUser.limits // {
          # 2: read-only, but per-query settings (formats, timeouts) may be changed.
          readonly = 2;
        };
        quotas.${cfg.readOnlyUser.name}.interval = {
          duration = 3600;
          queries = cfg.readOnlyUser.queriesPerHour;
        };
        users.${cfg.readOnlyUser.name} = {
          password = "";
          networks.ip = cfg.readOnlyUser.networks;
          profile = cfg.readOnlyUser.name;
          quota = cfg.readOnlyUser.name;
          grants.query = map (db: "GRANT SELECT ON ${db}.*") cfg.readOnlyUser.databases;
        };
      };
    };

    # XML: ClickHouse's `from_env` attribute substitutes the variable at load.
    services.clickhouse.extraUsersConfig = lib.mkIf cfg.grafanaUser.enable ''
      <clickhouse>
        <users>
          <${cfg.grafanaUser.name}>
            <password from_env="GRAFANA_CLICKHOUSE_PASSWORD"/>
            <networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
            <profile>${cfg.readOnlyUser.name}</profile>
            <quota>default</quota>
            <grants>
              ${lib.concatMapStrings (db: "<query>GRANT SELECT ON ${db}.*</query>") cfg.readOnlyUser.databases}
              <query>GRANT SELECT ON system.*</query>
            </grants>
          </${cfg.grafanaUser.name}>
        </users>
      </clickhouse>
    '';
    systemd.services.clickhouse = lib.mkIf (cfg.grafanaUser.enable && cfg.grafanaUser.environmentFile != null) {
      serviceConfig.EnvironmentFile = [ cfg.grafanaUser.environmentFile ];
    };

    assertions = [
      {
        assertion = cfg.grafanaUser.enable -> cfg.grafanaUser.environmentFile != null;
        message = "services.nxthdr.clickhouse.grafanaUser.environmentFile must be set (GRAFANA_CLICKHOUSE_PASSWORD=...).";
      }
      {
        assertion = cfg.grafanaUser.enable -> cfg.readOnlyUser.enable;
        message = "services.nxthdr.clickhouse.grafanaUser uses the read-only profile: keep readOnlyUser enabled.";
      }
    ];

    services.nxthdr.clickhouse.migrate.settings = {
      clickhouse.url = lib.mkDefault "http://localhost:${toString cfg.httpPort}";
      kafka.brokers = lib.mkDefault "localhost:9092";
    };

    systemd.services.nxthdr-clickhouse-migrate = lib.mkIf cfg.migrate.enable {
      description = "nxthdr ClickHouse schema migration";
      wantedBy = [ "multi-user.target" ];
      requires = [ "clickhouse.service" ];
      # The Kafka tables read topics the setup unit creates.
      after = [
        "clickhouse.service"
        "apache-kafka.service"
        "nxthdr-kafka-setup.service"
      ];
      restartTriggers = [ migrateConfig ];
      serviceConfig = (import ./lib.nix { inherit lib; }).hardening // {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${lib.getExe cfg.package} clickhouse migrate --config ${migrateConfig}";
      };
    };

    networking.firewall.allowedTCPPorts = lib.optionals cfg.openFirewall [
      cfg.httpPort
      cfg.tcpPort
    ];
  };
}
