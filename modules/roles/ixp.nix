# The IXP role: BIRD speaks BGP at Internet exchanges and with transit
# (sessions from the inventory), validates origins with RPKI (RTR), exports
# only the platform's prefixes with private ASNs stripped, streams BMP (pre-
# and post-policy) to the core's collector over WireGuard, and exports sFlow.
{
  config,
  lib,
  ...
}:
let
  cfg = config.nxthdr.ixp;
  host = config.nxthdr.host;
  inv = config.nxthdr.inventory;
  inherit (inv) platform;
  core = lib.head (lib.attrValues (lib.filterAttrs (_: h: h.role == "core") inv.hosts));
  # Originated here: the platform's prefixes the core does not announce
  # itself (the aggregate). The core's own prefix comes from the core, so it
  # is withdrawn from the Internet when the core is unreachable.
  aggregates = lib.subtractLists core.announces platform.prefixes;
  wg = host.wireguard;

  # "2a06:de00:50::/44" -> "2a06:de00:50::/44{44,48}": the prefix and its
  # more-specifics down to /48, the longest the Internet carries.
  platformSet = lib.concatMapStringsSep ", " (
    p: "${p}{${lib.last (lib.splitString "/" p)},48}"
  ) platform.prefixes;

  neighbor = n: ''
    protocol bgp ${n.name} {
      description "${n.kind} AS${toString n.asn}";
      local as ${toString platform.asn};
      neighbor ${n.address} as ${toString n.asn};
      ${lib.optionalString (n ? multihop) "multihop ${toString n.multihop};"}
      ipv6 {
        # The adj-RIB-in is kept so BMP can report routes before policy.
        import table on;
        import filter import_external;
        export filter export_external;
        ${lib.optionalString (n.kind == "transit") "import limit 1500000 action restart;"}
        ${lib.optionalString (n.kind != "transit") "import limit 200000 action restart;"}
      };
    }
  '';

  birdConfig = ''
    router id ${host.router_id};

    define PLATFORM_ASN = ${toString platform.asn};
    define PLATFORM_PREFIXES = [ ${platformSet} ];
    # Private and reserved ASNs never leave the platform.
    define PRIVATE_ASNS = [ 64512..65534, 4200000000..4294967294 ];

    roa6 table rpki6;

    protocol device {}

    protocol kernel {
      ipv6 { export where source = RTS_BGP; };
    }

    # The aggregate is originated here; more-specifics come from the core.
    protocol static platform_aggregate {
      ipv6;
      ${lib.concatMapStrings (p: "route ${p} unreachable;\n  ") aggregates}
    }

    ${lib.concatImapStrings (i: s: ''
      protocol rpki rpki${toString i} {
        roa6 { table rpki6; };
        remote ${s.address} port ${toString s.port};
        retry keep 90;
        refresh keep 900;
        expire keep 172800;
      }
    '') platform.rtr_servers}

    filter import_external {
      if net ~ PLATFORM_PREFIXES then reject;
      if net.len > 48 then reject;
      if roa_check(rpki6, net, bgp_path.last) = ROA_INVALID then reject;
      accept;
    }

    filter export_external {
      if !(net ~ PLATFORM_PREFIXES) then reject;
      bgp_path.delete(PRIVATE_ASNS);
      accept;
    }

    # The core announces its own prefixes from a private ASN over WireGuard.
    protocol bgp core {
      description "core over WireGuard";
      local ${wg.address} as ${toString platform.asn};
      neighbor ${wg.core_address} as ${toString platform.core_asn};
      ipv6 {
        import where net ~ PLATFORM_PREFIXES;
        export none;
      };
    }

    ${lib.concatMapStrings neighbor host.bgp}

    protocol bmp core_bmp {
      station address ip ${wg.core_address} port ${toString cfg.bmpPort};
      monitoring rib in pre_policy;
      monitoring rib in post_policy;
    }
  '';
in
{
  imports = [
    ./common.nix
    ./edge.nix
  ];

  options.nxthdr.ixp = {
    bmpPort = lib.mkOption {
      type = lib.types.port;
      default = 4000;
      description = "Port of the core's BMP collector (risotto).";
    };
    wireguardKeyFile = lib.mkOption {
      type = lib.types.str;
      default = "${config.nxthdr.secretsDir}/wireguard-key";
      defaultText = lib.literalExpression ''"''${config.nxthdr.secretsDir}/wireguard-key"'';
      description = "This host's WireGuard private key.";
    };
  };

  config = {
    boot.kernel.sysctl."net.ipv6.conf.all.forwarding" = 1;

    networking.wireguard.interfaces.wg-core = {
      ips = [ "${wg.address}/${toString wg.prefix_length}" ];
      listenPort = wg.port;
      privateKeyFile = cfg.wireguardKeyFile;
      peers = [
        {
          publicKey = core.wireguard.public_key;
          endpoint = "[${core.public_address}]:${toString core.wireguard.port}";
          # BGP and BMP to the core's tunnel address, and traffic to the
          # platform's prefixes, which the core announces.
          allowedIPs = [ "${wg.core_address}/128" ] ++ platform.prefixes;
          persistentKeepalive = 25;
        }
      ];
    };
    networking.firewall.allowedUDPPorts = [ wg.port ];
    networking.firewall.allowedTCPPorts = [ 179 ];

    services.bird = {
      enable = true;
      config = birdConfig;
    };

    services.prometheus.exporters.bird = {
      enable = true;
      listenAddress = "[::1]";
    };
    nxthdr.edge.scrapeTargets.bird = [ "[::1]:${toString config.services.prometheus.exporters.bird.port}" ];

    services.nxthdr.sflow-agent = {
      enable = true;
      inherit (host) interface;
      collector = "[${wg.core_address}]:6343";
      agentAddress = wg.address;
    };
  };
}
