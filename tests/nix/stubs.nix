# Stand-ins for what the tests cannot load here: the NixOS options our
# modules set (declared with a lenient type that merges like NixOS does:
# attribute sets recursively, lists concatenated) and a `pkgs` whose
# derivations are plain attribute sets recording their content, so the tests
# can read every rendered file and command line. Nothing is built.
{
  lib,
  # Evaluate as a node of pkgs.testers.runNixOSTest: node.pkgs is set, which
  # makes nixpkgs.* read-only (nixpkgs nixos/lib/testing/nodes.nix and
  # nixos/modules/misc/nixpkgs/read-only.nix: nixpkgs.overlays is
  # `types.unique` and defined from the given pkgs). Written from the facts
  # in issue 12 / spec nix.md; not yet checked against a pinned nixpkgs
  # revision (the per-module stand-ins with revisions are still to do).
  testNode ? false,
}:
let
  inherit (lib) types mkOption;

  # Merges like the NixOS option types it stands in for.
  nixosLike = types.mkOptionType {
    name = "nixosLike";
    description = "stub of a NixOS option";
    check = _: true;
    merge =
      loc: defs:
      let
        values = map (d: d.value) defs;
        first = builtins.head values;
      in
      if builtins.all builtins.isAttrs values && !(first ? outPath) then
        (types.attrsOf nixosLike).merge loc defs
      else if builtins.all builtins.isList values then
        builtins.concatLists values
      else if builtins.all builtins.isString values then
        lib.concatStringsSep "\n" (lib.unique values)
      else
        lib.mergeEqualOption loc defs;
  };

  stub = mkOption {
    type = nixosLike;
    default = { };
  };

  fakeDrv = name: extra: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/${builtins.substring 0 32 (builtins.hashString "sha256" (builtins.toJSON extra))}-${name}";
  } // extra;

  writeText = name: text: fakeDrv name { inherit text; };

  pkgs = {
    inherit lib writeText;
    formats.yaml = _: {
      type = nixosLike;
      # YAML is a superset of JSON.
      generate = name: value: writeText name (builtins.toJSON value);
    };
    formats.json = pkgs.formats.yaml;
    writeShellScript = name: text: fakeDrv name { inherit text; };
    writeTextFile = args: fakeDrv args.name { inherit (args) text; };
    runCommand = name: env: script: fakeDrv name (env // { inherit script; });
    nxthdr = fakeDrv "nxthdr" { meta.mainProgram = "nxthdr"; };
    pmacct = fakeDrv "pmacct" { meta.mainProgram = "pmacctd"; };
    apacheKafka = fakeDrv "apache-kafka" { };
    bird3 = fakeDrv "bird" { meta.mainProgram = "bird"; };
    clickhouse = fakeDrv "clickhouse" { };
    grafanaPlugins.grafana-clickhouse-datasource = fakeDrv "grafana-clickhouse-datasource" { };
    wireguard-tools = fakeDrv "wireguard-tools" { };
    prometheus-jmx-javaagent = fakeDrv "jmx-prometheus-javaagent" { version = "1.0.1"; };
  };
in
{
  inherit pkgs;

  # The NixOS options our modules and roles set, as in nixpkgs 26.05.
  module =
   { config, ... }:
   {
    options = {
      assertions = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      warnings = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      systemd.services = stub;
      systemd.tmpfiles.rules = stub;
      systemd.network = stub;
      networking.hostName = mkOption {
        type = types.str;
        default = "nixos";
      };
      networking.domain = stub;
      networking.firewall = stub;
      networking.wireguard = stub;
      networking.interfaces = stub;
      networking.defaultGateway6 = stub;
      networking.useDHCP = stub;
      networking.nameservers = stub;
      boot.kernel.sysctl = stub;
      environment.etc = stub;
      environment.systemPackages = stub;
      users = stub;
      time = stub;
      system.stateVersion = stub;
      fileSystems = stub;
      boot.loader = stub;
      boot.initrd = stub;
      nixpkgs =
        if testNode then
          {
            overlays = mkOption {
              type = types.unique {
                message = "nixpkgs.overlays is set to read-only (node.pkgs is set in this test)";
              } types.unspecified;
            };
            hostPlatform = mkOption {
              type = types.unique {
                message = "nixpkgs.hostPlatform is set to read-only (node.pkgs is set in this test)";
              } types.unspecified;
            };
          }
        else
          stub;
      services.postgresql = stub;
      services.clickhouse = stub;
      services.apache-kafka = stub;
      services.bird = stub;
      services.prometheus = stub;
      services.grafana = stub;
      services.loki = stub;
      services.caddy = stub;
      services.headscale = stub;
      services.openssh = stub;
      services.alloy = stub;
    };
    # The upstream assertion of nixpkgs' headscale module
    # (nixos/modules/services/networking/headscale.nix, as issue 12 and spec
    # nix.md state it; revision not yet recorded): override_local_dns
    # defaults to true and then requires global nameservers.
    config.assertions =
      let
        dns = config.services.headscale.settings.dns or { };
      in
      lib.optional (config.services.headscale.enable or false) {
        assertion = (dns.override_local_dns or true) -> (dns.nameservers.global or [ ]) != [ ];
        message = "services.headscale.settings.dns.nameservers.global must be set when services.headscale.settings.dns.override_local_dns is true";
      };
    # read-only.nix defines them from node.pkgs.
    config.nixpkgs = lib.mkIf testNode {
      overlays = [ ];
      hostPlatform = "x86_64-linux";
    };
    # Defaults of the nixpkgs options our modules read.
    config.services.apache-kafka.package = lib.mkDefault pkgs.apacheKafka;
    config.services.bird.package = lib.mkDefault pkgs.bird3;
    config.services.prometheus.exporters.node.port = lib.mkDefault 9100;
    config.services.prometheus.exporters.bird.port = lib.mkDefault 9324;
  };
}
