{
  description = "nxthdr: an Internet measurement platform (BMP, sFlow, active probing) as NixOS";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      pkgsFor = lib.genAttrs systems (
        system:
        import nixpkgs {
          inherit system;
          overlays = [ self.overlays.default ];
        }
      );
      forAllSystems = f: lib.genAttrs systems (system: f pkgsFor.${system});
      hosts = import ./nix/hosts.nix { inherit lib; };
    in
    {
      overlays.default = final: _prev: {
        nxthdr = final.callPackage ./nix/package.nix { };
      };

      packages = forAllSystems (pkgs: {
        default = pkgs.nxthdr;
        inherit (pkgs) nxthdr;
      });

      # The demo needs the embedded store, whose chdb wheel is x86_64-only
      # (nix/chdb-core.nix): no demo app on aarch64-linux.
      apps = lib.genAttrs [ "x86_64-linux" ] (system: let pkgs = pkgsFor.${system}; in {
        # `nix run .#demo`: the appliance with its embedded store, fed the BMP
        # and sFlow recordings of real routers and agents.
        demo = {
          type = "app";
          program = lib.getExe (
            pkgs.writeShellScriptBin "nxthdr-demo" ''exec ${
              lib.getExe (pkgs.nxthdr.override { withEmbeddedStore = true; })
            } demo "$@"''
          );
          meta.description = "Replay real BMP and sFlow recordings through the appliance and print summaries";
        };
        default = self.apps.${pkgs.stdenv.hostPlatform.system}.demo;
      });

      nixosModules = {
        # Every service module. It does not touch nixpkgs.*: under
        # runNixOSTest (node.pkgs set) every nixpkgs.* option is read-only and
        # nixpkgs.overlays is types.unique (nixos/lib/testing/nodes.nix,
        # nixos/modules/misc/nixpkgs/read-only.nix). Hosts add `overlay`.
        default = ./modules;
        # pkgs.nxthdr for a host that evaluates its own nixpkgs.
        overlay = {
          nixpkgs.overlays = [ self.overlays.default ];
        };
        risotto = ./modules/services/risotto.nix;
        pesto = ./modules/services/pesto.nix;
        saimiris-agent = ./modules/services/saimiris-agent.nix;
        saimiris-gateway = ./modules/services/saimiris-gateway.nix;
        clickhouse = ./modules/services/clickhouse.nix;
        kafka = ./modules/services/kafka.nix;
        sflow-agent = ./modules/services/sflow-agent.nix;
      }
      // import ./modules/roles;

      nixosConfigurations = lib.mapAttrs (
        name: _:
        lib.nixosSystem {
          modules = [ self.nixosModules.overlay ] ++ hosts.modulesOf name;
        }
      ) hosts.inventory.hosts;

      checks = forAllSystems (
        pkgs:
        let
          inherit (pkgs.stdenv.hostPlatform) system;
        in
        {
          package = pkgs.nxthdr;
          # No nixfmt check: the tree has never been run through nixfmt
          # (nixfmt cannot run where it is developed); `nix fmt` formats it.
        }
        # The VM tests (x86_64-linux builders): each pipeline scenario of
        # tests/scenarios on NixOS machines, with our modules. `pkgs` already
        # has the overlay (pkgsFor); the module sets no nixpkgs.* option.
        // lib.optionalAttrs (system == "x86_64-linux") (
          lib.mapAttrs
            (
              _: file:
              import file {
                inherit pkgs;
                module = self.nixosModules.default;
              }
            )
            {
              vm-collectors = ./nix/tests/collectors.nix;
              bmp-pipeline = ./nix/tests/bmp-pipeline.nix;
              flows-pipeline = ./nix/tests/flows-pipeline.nix;
              probing = ./nix/tests/probing.nix;
              core-observability = ./nix/tests/core-observability.nix;
            }
        )
        # Every host of this system builds.
        // lib.mapAttrs' (name: nixos: lib.nameValuePair "host-${name}" nixos.config.system.build.toplevel) (
          lib.filterAttrs (
            name: _: hosts.inventory.hosts.${name}.system == system
          ) self.nixosConfigurations
        )
      );

      formatter = forAllSystems (pkgs: pkgs.nixfmt-tree);

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          inputsFrom = [ pkgs.nxthdr ];
          packages = [
            pkgs.nixfmt-tree
            pkgs.capnproto
            pkgs.pmacct
            pkgs.python3Packages.hypothesis
            pkgs.python3Packages.pytest
          ];
        };
      });
    };
}
