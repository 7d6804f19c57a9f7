# VM test: the BMP pipeline end to end. peer (GoBGP) announces prefixes to ixp
# (GoBGP, BMP pre- and post-policy to the core); on the core, risotto produces
# to Kafka and ClickHouse reads the topic into bmp.updates (schema from
# `nxthdr clickhouse migrate`). The scenario is tests/scenarios/bmp_pipeline.py,
# the code the namespace test runs; the rows are read with clickhouse-client.
#
# GoBGP, not the ixp role's BIRD: the role cannot run alone (WireGuard to the
# core, RPKI caches, IXP sessions from the inventory), and the namespace
# version of the scenario drives GoBGP too.
{ pkgs, module }:
let
  peerAs = 65010;
  ixpAs = 65001;
  # Nodes on VLAN 1, alphabetical: core .1, ixp .2, peer .3.
  addr = {
    core = "192.168.1.1";
    ixp = "192.168.1.2";
    peer = "192.168.1.3";
  };
  timers = {
    config = {
      connect-retry = 1;
      hold-time = 9;
      keepalive-interval = 3;
    };
  };
  router =
    { settings }:
    { pkgs, ... }:
    {
      services.gobgpd = {
        enable = true;
        inherit settings;
      };
      # The `gobgp` CLI the scenario drives (the module installs the daemon only).
      environment.systemPackages = [ pkgs.gobgp ];
      networking.firewall.allowedTCPPorts = [ 179 ];
    };
in
pkgs.testers.runNixOSTest {
  name = "nxthdr-bmp-pipeline";
  extraPythonPackages = p: [ (p.callPackage ./scenarios.nix { }) ];

  nodes.core =
    { pkgs, ... }:
    {
      imports = [ module ];
      virtualisation.memorySize = 4096;
      virtualisation.cores = 2;
      environment.systemPackages = [ pkgs.curl ];
      services.nxthdr.kafka = {
        enable = true;
        clusterId = "bnh0aGRyLXZtLWJtcC1waQ"; # base64url of 16 bytes
      };
      services.nxthdr.clickhouse.enable = true;
      services.nxthdr.risotto = {
        enable = true;
        openFirewall = true;
        settings.kafka.batch_wait_time = 200;
      };
    };

  nodes.ixp = router {
    settings = {
      global.config = {
        as = ixpAs;
        router-id = addr.ixp;
      };
      # Post-policy rows must differ from pre-policy ones to be told apart.
      global.apply-policy.config = {
        import-policy-list = [ "ixp-in" ];
        default-import-policy = "accept-route";
      };
      policy-definitions = [
        {
          name = "ixp-in";
          statements = [
            {
              name = "tag";
              actions = {
                route-disposition = "accept-route";
                bgp-actions.set-community = {
                  options = "add";
                  set-community-method.communities-list = [ "65001:999" ];
                };
              };
            }
          ];
        }
      ];
      neighbors = [
        {
          config = {
            neighbor-address = addr.peer;
            peer-as = peerAs;
          };
          inherit timers;
        }
      ];
      bmp-servers = [
        {
          config = {
            address = addr.core;
            port = 4000;
            route-monitoring-policy = "all";
          };
        }
      ];
    };
  };

  nodes.peer = router {
    settings = {
      global.config = {
        as = peerAs;
        router-id = addr.peer;
      };
      neighbors = [
        {
          config = {
            neighbor-address = addr.ixp;
            peer-as = ixpAs;
          };
          inherit timers;
        }
      ];
    };
  };

  testScript = builtins.readFile ../../tests/scenarios/vm/bmp_pipeline.py;
}
