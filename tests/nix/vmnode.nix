# Evaluates modules as a node of pkgs.testers.runNixOSTest (node.pkgs set:
# nixpkgs.* read-only, tests/nix/stubs.nix with testNode), with the flake's
# nixosModules.default as the VM tests receive it.
{
  libPath,
  extra ? [ ],
}:
let
  lib = import libPath;
  stubs = import ./stubs.nix {
    inherit lib;
    testNode = true;
  };
  # The flake's outputs, without nixpkgs: nixosModules needs only lib.
  flake = (import ../../flake.nix).outputs {
    self = flake;
    nixpkgs = { inherit lib; };
  };
  cfg =
    (lib.evalModules {
      specialArgs = { inherit (stubs) pkgs; };
      modules = [
        stubs.module
        flake.nixosModules.default
      ]
      ++ extra;
    }).config;
in
{
  overlays = builtins.length cfg.nixpkgs.overlays;
  units = builtins.attrNames cfg.systemd.services;
}
