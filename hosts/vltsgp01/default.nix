# vltsgp01: vlt host (Singapore). Role, addresses and sessions come from
# hosts/inventory.toml; only what is particular to this machine goes here.
{
  imports = [ ./hardware.nix ];

  system.stateVersion = "26.05";
}
