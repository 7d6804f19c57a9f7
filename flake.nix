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

      apps = forAllSystems (pkgs: {
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
        # Every service module, with the package in pkgs.
        default = {
          imports = [ ./modules ];
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
          modules = [ { nixpkgs.overlays = [ self.overlays.default ]; } ] ++ hosts.modulesOf name;
        }
      ) hosts.inventory.hosts;

      checks = forAllSystems (
        pkgs:
        let
          inherit (pkgs.stdenv.hostPlatform) system;
        in
        {
          package = pkgs.nxthdr;
          # `nix fmt` (nixfmt-tree) leaves every Nix file unchanged.
          formatting = pkgs.runCommand "nxthdr-nixfmt" { nativeBuildInputs = [ pkgs.nixfmt ]; } ''
            find ${self} -name '*.nix' -exec nixfmt --check {} +
            touch $out
          '';
        }
        # The VM tests (x86_64-linux builders): each pipeline scenario of
        # tests/scenarios on NixOS machines, with our modules.
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
