# An sFlow agent for the edge hosts: pmacct's pmacctd with the sfprobe plugin
# samples the traffic of one interface and exports sFlow v5 to the collector
# (pesto). hsflowd is not packaged in nixpkgs; pmacct is.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.nxthdr.sflow-agent;
  nxlib = import ./lib.nix { inherit lib; };

  # pmacct's key: value configuration.
  configFile = pkgs.writeText "pmacctd-sfprobe.conf" (
    lib.concatStrings (lib.mapAttrsToList (key: value: "${key}: ${if lib.isBool value then lib.boolToString value else toString value}\n") cfg.settings)
  );
in
{
  options.services.nxthdr.sflow-agent = {
    enable = lib.mkEnableOption "an sFlow agent (pmacctd with the sfprobe plugin)";

    package = lib.mkPackageOption pkgs "pmacct" { };

    interface = lib.mkOption {
      type = lib.types.str;
      example = "enp1s0";
      description = "Interface whose traffic is sampled.";
    };

    collector = lib.mkOption {
      type = lib.types.str;
      example = "[2a06:de00:50:cafe:100::10]:6343";
      description = "sFlow collector, `host:port` or `[v6]:port`.";
    };

    samplingRate = lib.mkOption {
      type = lib.types.ints.positive;
      default = 1024;
      description = "One packet in this many is sampled.";
    };

    agentAddress = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      description = "Agent address written in the datagrams (`sfprobe_agentip`); default: chosen by pmacct.";
    };

    settings = lib.mkOption {
      type = lib.types.attrsOf (
        lib.types.oneOf [
          lib.types.str
          lib.types.int
          lib.types.bool
        ]
      );
      default = { };
      description = "pmacctd configuration keys (CONFIG-KEYS of pmacct); the options above fill the usual ones.";
    };
  };

  config = lib.mkIf cfg.enable {
    services.nxthdr.sflow-agent.settings = {
      daemonize = lib.mkDefault "false";
      plugins = "sfprobe";
      pcap_interface = cfg.interface;
      sfprobe_receiver = cfg.collector;
      sampling_rate = cfg.samplingRate;
      sfprobe_agentip = lib.mkIf (cfg.agentAddress != null) cfg.agentAddress;
    };

    systemd.services.nxthdr-sflow-agent = {
      description = "sFlow agent (pmacctd sfprobe) on ${cfg.interface}";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      restartTriggers = [ configFile ];
      serviceConfig = nxlib.hardening // {
        ExecStart = "${lib.getExe' cfg.package "pmacctd"} -f ${configFile}";
        # Packet capture: CAP_NET_RAW for the pcap socket, CAP_NET_ADMIN to
        # put the interface in promiscuous mode. Not in a user namespace,
        # where these would not reach the host's interfaces.
        CapabilityBoundingSet = [
          "CAP_NET_RAW"
          "CAP_NET_ADMIN"
        ];
        AmbientCapabilities = [
          "CAP_NET_RAW"
          "CAP_NET_ADMIN"
        ];
        PrivateUsers = false;
        RestrictAddressFamilies = [
          "AF_INET"
          "AF_INET6"
          "AF_UNIX"
          "AF_PACKET"
          "AF_NETLINK"
        ];
      };
    };
  };
}
