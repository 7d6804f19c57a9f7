# Typing stub of the NixOS test driver package (nixpkgs nixos/lib/test-driver),
# for checking VM test scripts here the way the driver checks them.
