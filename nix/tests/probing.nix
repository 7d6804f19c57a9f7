# VM test: active probing end to end. A measurement submitted to the gateway's
# API (dev-mode user; IPv6, the only family the gateway takes) goes through Kafka to the agent on vlt, which probes a
# target two routers away; its replies go through Kafka (SASL/SCRAM listener,
# the agent's own user and ACLs) into ClickHouse's saimiris.replies. The
# scenario is tests/scenarios/probing.py, the code the namespace test runs.
{ pkgs, module }:
let
  # Test-only secrets: in the store is fine here, never in a real deployment.
  secrets = {
    "nxthdr-test/kafka-vlt" = "vlt-kafka-password";
    "nxthdr-test/agent-key" = "agent-key-for-the-vm-test";
    "nxthdr-test/agent-secret" = "vlt-agent-secret";
  };
  secretFiles = {
    environment.etc = builtins.mapAttrs (_: text: { inherit text; }) secrets;
  };
  # Replies must come back for every probe: no ICMPv6 rate limit.
  noIcmpLimit = {
    "net.ipv6.icmp.ratelimit" = 0;
  };
  router = vlans: routes: {
    virtualisation.vlans = vlans;
    boot.kernel.sysctl = noIcmpLimit // {
      "net.ipv6.conf.all.forwarding" = 1;
    };
    # Routers and the target answer probes; a dropping firewall would not.
    networking.firewall.enable = false;
    networking.interfaces = routes;
  };
  # The test network's IPv6 addresses: 2001:db8:<VLAN>::<index>/64.
  via = iface: vlan: gatewayVlan: gatewayIndex: {
    ${iface}.ipv6.routes = [
      {
        address = "2001:db8:${toString vlan}::";
        prefixLength = 64;
        via = "2001:db8:${toString gatewayVlan}::${toString gatewayIndex}";
      }
    ];
  };
in
pkgs.testers.runNixOSTest {
  name = "nxthdr-probing";
  extraPythonPackages = p: [ (p.callPackage ./scenarios.nix { }) ];

  # Alphabetical indices: core 1, r1 2, r2 3, target 4, vlt 5; addresses
  # 192.168.<VLAN>.<index> and 2001:db8:<VLAN>::<index>. VLAN 1: core, vlt.
  # VLAN 2: vlt, r1. VLAN 3: r1, r2. VLAN 4: r2, target.
  nodes.core =
    { pkgs, ... }:
    {
      imports = [
        module
        secretFiles
      ];
      virtualisation.memorySize = 4096;
      virtualisation.cores = 2;
      virtualisation.vlans = [ 1 ];
      environment.systemPackages = [
        pkgs.curl
        pkgs.nxthdr
      ];
      services.nxthdr.kafka = {
        enable = true;
        clusterId = "bnh0aGRyLXZtLXByb2Jpbg"; # base64url of 16 bytes
        external = {
          enable = true;
          advertisedHost = "core";
          openFirewall = true;
        };
        users.vlt = {
          passwordFile = "/etc/nxthdr-test/kafka-vlt";
          consume = [ "saimiris-probes" ];
          produce = [ "saimiris-replies" ];
        };
      };
      services.nxthdr.clickhouse.enable = true;
      services.nxthdr.saimiris-gateway = {
        enable = true;
        openFirewall = true;
        agentKeyFile = "/etc/nxthdr-test/agent-key";
        settings = {
          gateway.address = "0.0.0.0:8080";
          auth.dev_mode = true;
          users.allow_any_source = true;
        };
      };
    };

  nodes.r1 = router [ 2 3 ] (via "eth2" 4 3 3);
  nodes.r2 = router [ 3 4 ] (via "eth1" 2 3 2);
  nodes.target = {
    virtualisation.vlans = [ 4 ];
    boot.kernel.sysctl = noIcmpLimit;
    networking.firewall.enable = false;
    networking.interfaces = via "eth1" 2 4 3;
  };

  nodes.vlt =
    { ... }:
    {
      imports = [
        module
        secretFiles
      ];
      # eth1: VLAN 1 (the core), eth2: VLAN 2 (probes leave here).
      virtualisation.vlans = [
        1
        2
      ];
      networking.interfaces = via "eth2" 4 2 2;
      services.nxthdr.saimiris-agent = {
        enable = true;
        agentKeyFile = "/etc/nxthdr-test/agent-key";
        agentSecretFile = "/etc/nxthdr-test/agent-secret";
        kafkaPasswordFile = "/etc/nxthdr-test/kafka-vlt";
        settings = {
          agent.id = "vlt";
          agent.health_interval = 2;
          gateway.url = "http://core:8080";
          kafka = {
            brokers = "core:9093";
            auth_protocol = "SASL_PLAINTEXT";
            auth_sasl_mechanism = "SCRAM-SHA-512";
            auth_sasl_username = "vlt";
          };
          # No source prefix: probes leave from eth2's own address (2001:db8:2::5).
          caracat = [
            {
              name = "main";
              interface = "eth2";
              probing_rate = 100;
            }
          ];
        };
      };
    };

  testScript = builtins.readFile ../../tests/scenarios/vm/probing.py;
}
