# SITE-SPECIFIC: the hardware of coreams01. Regenerate on the machine with
# `nixos-generate-config --show-hardware-config` before the first deployment;
# the values below describe a typical virtual machine of the provider.
{
  boot.loader.grub = {
    enable = true;
    device = "/dev/vda";
  };
  boot.initrd.availableKernelModules = [
    "virtio_pci"
    "virtio_blk"
    "virtio_net"
    "ahci"
  ];

  fileSystems."/" = {
    device = "/dev/disk/by-label/nixos";
    fsType = "ext4";
  };
  fileSystems."/boot" = {
    device = "/dev/disk/by-label/boot";
    fsType = "ext4";
  };
}
