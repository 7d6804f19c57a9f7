# The probing role: the saimiris agent sends from the anycast /48 and this
# vantage point's unicast /48; BIRD announces both to the provider over a
# multihop, password-protected session (password from a secret file).
{
  config,
  lib,
  ...
}:
let
  cfg = config.nxthdr.vlt;
  host = config.nxthdr.host;
  inherit (config.nxthdr.inventory) platform;
  announced = [ platform.anycast_prefix ] ++ host.announces;
  up = host.upstream;
  split = p: lib.splitString "/" p;
in
{
  imports = [
    ./common.nix
    ./edge.nix
  ];

  options.nxthdr.vlt = {
    upstreamPasswordFile = lib.mkOption {
      type = lib.types.str;
      default = "${config.nxthdr.secretsDir}/bird-upstream-password";
      defaultText = lib.literalExpression ''"''${config.nxthdr.secretsDir}/bird-upstream-password"'';
      description = ''
        File holding the BGP session password as a BIRD statement,
        `password "…";`, readable by the `bird` user. BIRD includes it, so
        the password never enters the Nix store.
      '';
    };
    kafkaPasswordFile = lib.mkOption {
      type = lib.types.str;
      default = "${config.nxthdr.secretsDir}/kafka-password";
      defaultText = lib.literalExpression ''"''${config.nxthdr.secretsDir}/kafka-password"'';
      description = "SCRAM password of this agent on the core's Kafka (user = host name).";
    };
    agentKeyFile = lib.mkOption {
      type = lib.types.str;
      default = "${config.nxthdr.secretsDir}/saimiris-agent-key";
      defaultText = lib.literalExpression ''"''${config.nxthdr.secretsDir}/saimiris-agent-key"'';
      description = "The gateway's shared agent key.";
    };
    agentSecretFile = lib.mkOption {
      type = lib.types.str;
      default = "${config.nxthdr.secretsDir}/saimiris-agent-secret";
      defaultText = lib.literalExpression ''"''${config.nxthdr.secretsDir}/saimiris-agent-secret"'';
      description = "This agent's own secret, registered with the gateway.";
    };
    probingRate = lib.mkOption {
      type = lib.types.ints.positive;
      default = 10000;
      description = "Packets per second of each prober instance.";
    };
  };

  config = {
    # Probes leave from addresses of the announced prefixes, configured on no
    # interface: non-local binds, and the prefixes routed locally so replies
    # to any address in them are delivered to this host.
    boot.kernel.sysctl = {
      "net.ipv6.ip_nonlocal_bind" = 1;
      "net.ipv4.ip_nonlocal_bind" = 1;
    };
    networking.interfaces.lo.ipv6.routes = map (p: {
      address = lib.head (split p);
      prefixLength = lib.toInt (lib.last (split p));
      type = "local";
    }) announced;

    services.nxthdr.saimiris-agent = {
      enable = true;
      inherit (cfg) kafkaPasswordFile agentKeyFile agentSecretFile;
      settings = {
        gateway.url = "https://api.${platform.domain}";
        kafka = {
          brokers = "kafka.${platform.domain}:9093";
          auth_protocol = "SASL_PLAINTEXT";
          auth_sasl_mechanism = "SCRAM-SHA-512";
          auth_sasl_username = config.networking.hostName;
        };
        agent.metrics_address = "[::1]:8080";
        caracat = [
          {
            name = "anycast";
            instance_id = 0;
            src_ipv6_prefix = platform.anycast_prefix;
            probing_rate = cfg.probingRate;
          }
          {
            name = "unicast";
            instance_id = 1;
            src_ipv6_prefix = host.unicast_prefix;
            probing_rate = cfg.probingRate;
          }
        ];
      };
    };
    nxthdr.edge.scrapeTargets.saimiris-agent = [ "[::1]:8080" ];

    services.bird = {
      enable = true;
      config = ''
        router id ${host.router_id};

        protocol device {}

        # Announced only: no kernel protocol, the local routes above stay.
        protocol static announced {
          ipv6;
          ${lib.concatMapStrings (p: "route ${p} unreachable;\n      ") announced}
        }

        protocol bgp upstream {
          description "provider AS${toString up.asn}";
          local ${host.public_address} as ${toString platform.asn};
          neighbor ${up.address} as ${toString up.asn};
          multihop ${toString up.multihop};
          include "secrets/upstream-password.conf";
          ipv6 {
            import none;
            export where proto = "announced";
          };
        }
      '';
      # The build-time parse needs the included file: a stand-in, relative to
      # the checked bird.conf as the real one is to /etc/bird/bird.conf.
      preCheckConfig = ''
        mkdir -p secrets
        echo 'password "build-time-check";' > secrets/upstream-password.conf
      '';
    };
    # An out-of-store link: the secret file is read by BIRD at run time only.
    environment.etc."bird/secrets/upstream-password.conf".source = cfg.upstreamPasswordFile;
    networking.firewall.allowedTCPPorts = [ 179 ];

    services.prometheus.exporters.bird = {
      enable = true;
      listenAddress = "[::1]";
    };
    nxthdr.edge.scrapeTargets.bird = [ "[::1]:${toString config.services.prometheus.exporters.bird.port}" ];

    services.nxthdr.sflow-agent = {
      enable = true;
      inherit (host) interface;
      collector = "[${
        (lib.head (lib.attrValues (lib.filterAttrs (_: h: h.role == "core") config.nxthdr.inventory.hosts)))
        .public_address
      }]:6343";
    };
  };
}
