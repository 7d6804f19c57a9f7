# The NixOS modules of each inventory host: its role, its hosts/<name>/
# directory, and the inventory itself. Used by the flake's
# nixosConfigurations and by the tests.
{ lib }:
let
  inventoryFile = ../hosts/inventory.toml;
  inventory = lib.importTOML inventoryFile;
  roles = import ../modules/roles;
in
{
  inherit inventory inventoryFile;

  modulesOf = name: [
    ../modules
    roles.${inventory.hosts.${name}.role}
    ../hosts/${name}
    {
      nxthdr.inventory = inventory;
      nxthdr.hostName = name;
      nixpkgs.hostPlatform = inventory.hosts.${name}.system;
    }
  ];
}
