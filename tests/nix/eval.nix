# Evaluates our modules with the Nix library alone (tests/nix/stubs.nix).
# nix-instantiate --eval --strict --json tests/nix/eval.nix --arg lib 'import <lib>' --arg modules '[...]'
{
  libPath,
  modules,
  hostName ? "test",
}:
let
  lib = import libPath;
  stubs = import ./stubs.nix { inherit lib; };
  eval = lib.evalModules {
    specialArgs = {
      inherit (stubs) pkgs;
    };
    modules = [
      stubs.module
      ../../modules/services
      { networking.hostName = hostName; }
    ]
    ++ modules;
  };
  cfg = eval.config;
  failed = builtins.filter (a: !a.assertion) cfg.assertions;
in
{
  assertions = map (a: a.message) failed;
  systemd = lib.mapAttrs (
    _: unit:
    unit
    // {
      # What each trigger holds: a rendered file (text), or a checked file
      # (the check script and the file it links to).
      restartTriggers = map (t: {
        path = t.outPath;
        text = t.text or t.file.text or null;
        script = t.script or null;
        file = t.file.outPath or null;
        checkFile = t.checkFile.text or null;
      }) (unit.restartTriggers or [ ]);
    }
  ) cfg.systemd.services;
  firewall = cfg.networking.firewall;
  sysctl = cfg.boot.kernel.sysctl;
  services = {
    inherit (cfg.services) clickhouse apache-kafka postgresql;
  };
  settings = lib.mapAttrs (_: s: s.settings or null) cfg.services.nxthdr;
}
