# VM test: the core role's observability on one VM. Prometheus scrapes every
# job the alert rules and dashboards expect (collectors, gateway, node, BIRD,
# the Kafka JMX exporter, ClickHouse) and loads every rule file; Grafana starts
# with its provisioned datasources and dashboards (checked through its HTTP
# API); Loki is ready and receives the journal from Alloy. The scenario is
# tests/scenarios/observability.py.
#
# The real role (modules/roles/core.nix) with the real inventory; only what
# the VM cannot have is replaced: the interface name, and secrets as test files.
{ pkgs, module }:
let
  inherit (pkgs) lib;
  hosts = import ../hosts.nix { inherit lib; };
  observability = ../../modules/observability;
  secretsDir = "/etc/nxthdr-test/secrets";
  vlts = lib.attrNames (lib.filterAttrs (_: h: h.role == "vlt") hosts.inventory.hosts);
  edges = lib.attrNames (lib.filterAttrs (_: h: h.role != "core") hosts.inventory.hosts);
  # bcrypt of "vm-test-push-password" (cost 10): basic_auth needs a real
  # hash, an empty one makes caddy.service fail. Single quotes: systemd
  # takes the value literally.
  pushHash = "$2b$10$YUtPCrz6MqXyAS0o2brF3uCcWMtrS/23WDFYYr/RnwpO27Jdh6/BG";
  # Test-only values: in the store is fine here, never in a real deployment.
  secrets = {
    grafana-secret-key = "vm-test-grafana-secret-key";
    grafana-admin-password = "vm-test-admin-password";
    grafana-clickhouse-env = "GRAFANA_CLICKHOUSE_PASSWORD=vm-test-clickhouse-password";
    caddy-env = lib.concatMapStrings (n: "PUSH_HASH_${n}='${pushHash}'\n") edges;
    alertmanager-env = "";
    saimiris-agent-key = "vm-test-agent-key";
    # base64 of 32 bytes: a syntactically valid WireGuard private key.
    wireguard-key = "bnh0aGRyLXZtLXRlc3Qtd2lyZWd1YXJkLWtleS0zMmI=";
  }
  // lib.genAttrs (map (n: "kafka-agent-${n}") vlts) (n: "vm-test-${n}");
in
pkgs.testers.runNixOSTest {
  name = "nxthdr-core-observability";
  extraPythonPackages = p: [ (p.callPackage ./scenarios.nix { }) ];

  nodes.core =
    { pkgs, ... }:
    {
      imports = [
        module
        ../../modules/roles/core.nix
      ];
      nxthdr.inventory = lib.recursiveUpdate hosts.inventory {
        # The VM's NIC on VLAN 1.
        hosts.coreams01.interface = "eth1";
      };
      nxthdr.hostName = "coreams01";
      nxthdr.secretsDir = secretsDir;
      environment.etc =
        lib.mapAttrs' (name: text: lib.nameValuePair "nxthdr-test/secrets/${name}" { inherit text; }) secrets
        // {
          # What the scenario compares the running services with.
          "nxthdr-test/rules".source = observability + "/prometheus/rules";
          "nxthdr-test/dashboards".source = observability + "/grafana/dashboards";
        };
      environment.systemPackages = [ pkgs.curl ];
      virtualisation.memorySize = 4096;
      virtualisation.cores = 2;
    };

  testScript = builtins.readFile ../../tests/scenarios/vm/core_observability.py;
}
