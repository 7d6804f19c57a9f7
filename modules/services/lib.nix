# Helpers shared by the nxthdr service modules (plain functions, not a module).
{ lib }:
rec {
  # "host:port" or "[v6]:port" (the programs' address syntax) -> port number.
  portOf = address: lib.toInt (lib.last (lib.splitString ":" address));

  # The systemd hardening every nxthdr program runs with. Loosened per unit
  # only where a program needs it, with a comment saying why.
  hardening = {
    DynamicUser = true;
    UMask = "0077";
    NoNewPrivileges = true;
    ProtectSystem = "strict";
    ProtectHome = true;
    PrivateTmp = true;
    PrivateDevices = true;
    PrivateUsers = true;
    ProtectHostname = true;
    ProtectClock = true;
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectControlGroups = true;
    ProtectProc = "invisible";
    ProcSubset = "pid";
    LockPersonality = true;
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    RemoveIPC = true;
    SystemCallArchitectures = "native";
    SystemCallFilter = [
      "@system-service"
      "~@privileged"
      "~@resources"
    ];
    CapabilityBoundingSet = [ "" ];
    AmbientCapabilities = [ "" ];
    RestrictAddressFamilies = [
      "AF_INET"
      "AF_INET6"
      "AF_UNIX"
    ];
    Restart = "on-failure";
    RestartSec = 5;
  };

  # Options shared by every program that produces to or consumes from Kafka
  # with SASL: the password never enters the Nix store, it is handed to the
  # unit as a systemd credential and the config file names the credential.
  saslPasswordFileOption =
    program:
    lib.mkOption {
      # A string, not types.path: a path literal would be copied into the
      # world-readable store.
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "/run/secrets/${program}-kafka-password";
      description = ''
        File holding the Kafka SASL password. It is loaded as the systemd
        credential `kafka-password` and `kafka.auth_sasl_password_file` points
        at it; the file itself stays outside the Nix store (sops-nix, agenix).
      '';
    };

  # A KRaft cluster id as `kafka-storage.sh random-uuid` prints it: base64url
  # (no padding) of 16 bytes, i.e. 22 characters whose last one carries only
  # 2 significant bits (one of A Q g w).
  kraftClusterId = lib.types.strMatching "[A-Za-z0-9_-]{21}[AQgw]";

  credentialPath = unit: name: "/run/credentials/${unit}.service/${name}";

  # The configuration file, checked at build time by the program's own
  # `--check-config`, so a file the program would refuse never reaches a host.
  # Secrets exist on the host only (systemd credentials): for the check, their
  # paths point at a placeholder file instead, which a program may read.
  checkedConfig =
    {
      pkgs,
      name,
      format,
      settings,
      check,
    }:
    let
      file = format.generate name settings;
      withPlaceholder = value:
        if lib.isString value && lib.hasPrefix "/run/credentials/" value then "placeholder-secret" else value;
      checkFile = format.generate "check-${name}" (
        lib.mapAttrsRecursive (_: withPlaceholder) settings
      );
    in
    pkgs.runCommand name { inherit file checkFile; } ''
      echo build-time-placeholder > placeholder-secret
      ${check} "$checkFile" > /dev/null
      ln -s "$file" $out
    '';
}
