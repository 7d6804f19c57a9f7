# What every host of the platform shares, driven by the inventory
# (hosts/inventory.toml): its name, addresses, SSH, node exporter, and the
# secrets directory the roles read file paths from.
{
  config,
  lib,
  ...
}:
let
  cfg = config.nxthdr;
  host = cfg.inventory.hosts.${cfg.hostName};
  inherit (cfg.inventory) platform;
  prefixLength = if host.role == "core" then lib.toInt (lib.last (lib.splitString "/" platform.dmz_prefix)) else 64;
in
{
  options.nxthdr = {
    inventory = lib.mkOption {
      type = lib.types.attrs;
      description = "The parsed inventory (hosts/inventory.toml).";
    };
    hostName = lib.mkOption {
      type = lib.types.str;
      description = "This host's name in the inventory.";
    };
    host = lib.mkOption {
      type = lib.types.attrs;
      readOnly = true;
      description = "This host's inventory entry.";
    };
    secretsDir = lib.mkOption {
      type = lib.types.str;
      default = "/run/secrets";
      description = ''
        Where the roles expect secret files by default (sops-nix and agenix
        both decrypt to files under /run at activation). Every secret is also
        its own `*File` option, to point it anywhere else.
      '';
    };
  };

  config = {
    nxthdr.host = host;

    networking.hostName = cfg.hostName;
    networking.domain = platform.domain;
    networking.useDHCP = false;
    # DHCP is off: resolvers from the inventory (agents, remote write, Alloy
    # and ACME all resolve names).
    networking.nameservers = platform.nameservers;
    networking.interfaces.${host.interface}.ipv6.addresses = [
      {
        address = host.public_address;
        inherit prefixLength;
      }
    ];
    networking.defaultGateway6 = {
      address = host.gateway;
      inherit (host) interface;
    };

    # Password login is off: the operators' keys are the way in.
    users.users.root.openssh.authorizedKeys.keys = platform.admin_ssh_keys;
    assertions = [
      {
        assertion = platform.nameservers != [ ];
        message = "hosts/inventory.toml: platform.nameservers must not be empty (DHCP is off).";
      }
      {
        assertion = platform.admin_ssh_keys != [ ];
        message = "hosts/inventory.toml: platform.admin_ssh_keys must not be empty (no password login).";
      }
    ];

    services.openssh = {
      enable = true;
      settings.PasswordAuthentication = false;
      settings.KbdInteractiveAuthentication = false;
    };

    services.prometheus.exporters.node = {
      enable = true;
      listenAddress = "[::1]";
      enabledCollectors = [ "systemd" ];
    };

    # Every host ships its journal to Loki with Grafana Alloy
    # (modules/observability/loki): journal.alloy here, plus the role's
    # write.alloy (write-local.alloy on the core, write-remote.alloy on edge
    # hosts). Alloy reads every *.alloy file of /etc/alloy.
    services.alloy.enable = true;
    environment.etc."alloy/journal.alloy".source = ../observability/loki/journal.alloy;
    systemd.services.alloy.reloadTriggers = [
      config.environment.etc."alloy/journal.alloy".source
      config.environment.etc."alloy/write.alloy".source
    ];

    time.timeZone = "UTC";
  };
}
