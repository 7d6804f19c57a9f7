# Evaluates every inventory host (its role, hosts/<name>/, the inventory)
# with the Nix library and the stubs of tests/nix/stubs.nix.
{ libPath }:
let
  lib = import libPath;
  stubs = import ./stubs.nix { inherit lib; };
  hosts = import ../../nix/hosts.nix { inherit lib; };
  evalHost =
    name:
    let
      cfg =
        (lib.evalModules {
          specialArgs = { inherit (stubs) pkgs; };
          modules = [ stubs.module ] ++ hosts.modulesOf name;
        }).config;
    in
    {
      assertions = map (a: a.message) (builtins.filter (a: !a.assertion) cfg.assertions);
      inherit (cfg.networking) firewall hostName;
      bird = {
        inherit (cfg.services.bird) config;
        preCheckConfig = cfg.services.bird.preCheckConfig or "";
      };
      etc = lib.mapAttrs (_: e: e.source or null) cfg.environment.etc;
      settings = lib.mapAttrs (_: s: s.settings or null) (
        lib.filterAttrs (_: s: s.enable or false) cfg.services.nxthdr
      );
      units = lib.mapAttrs (_: u: {
        serviceConfig = u.serviceConfig or { };
        environment = u.environment or { };
        restartTriggers = map (t: t.text or t.file.text or null) (u.restartTriggers or [ ]);
      }) cfg.systemd.services;
      grafana = cfg.services.grafana;
      loki = cfg.services.loki;
      alloy = cfg.services.alloy;
      kafka = cfg.services.apache-kafka;
      clickhouse = cfg.services.clickhouse;
      wireguard = cfg.networking.wireguard;
      prometheus = cfg.services.prometheus;
      caddy = cfg.services.caddy.virtualHosts or { };
      routes = cfg.networking.interfaces.lo.ipv6.routes or [ ];
      sysctl = cfg.boot.kernel.sysctl;
      nameservers = cfg.networking.nameservers;
      rootKeys = cfg.users.users.root.openssh.authorizedKeys.keys or [ ];
      headscale = cfg.services.headscale.settings or { };
      kafkaUsers = lib.attrNames (cfg.services.nxthdr.kafka.users or { });
    };
in
{
  inventory = hosts.inventory;
  hosts = lib.mapAttrs (name: _: evalHost name) hosts.inventory.hosts;
}
