# The role modules by name (the inventory's `role`).
{
  core = ./core.nix;
  ixp = ./ixp.nix;
  vlt = ./vlt.nix;
}
