# Every nxthdr service module (services.nxthdr.*). Roles are imported per
# host, from the inventory (nix/hosts.nix).
{
  imports = [ ./services ];
}
