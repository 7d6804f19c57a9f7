# VM test: the flows pipeline end to end. src pings the agent across VLAN 2,
# which our sFlow agent module (pmacctd sfprobe) samples 1 in 4 and exports
# over VLAN 1 to pesto on the core; Kafka, then ClickHouse's flows.records
# with the estimated bytes (packet length x sampling rate). The scenario is
# tests/scenarios/flows_pipeline.py, the code the namespace test runs.
{ pkgs, module }:
pkgs.testers.runNixOSTest {
  name = "nxthdr-flows-pipeline";
  extraPythonPackages = p: [ (p.callPackage ./scenarios.nix { }) ];

  # Alphabetical: agent .1 (VLANs 1 and 2), core .2, src .3 (VLAN 2 only).
  nodes.agent =
    { ... }:
    {
      imports = [ module ];
      # eth1 on VLAN 1 (to the core), eth2 on VLAN 2 (the sampled link).
      virtualisation.vlans = [
        1
        2
      ];
      services.nxthdr.sflow-agent = {
        enable = true;
        interface = "eth2";
        collector = "192.168.1.2:6343";
        agentAddress = "192.168.1.1";
        samplingRate = 4;
      };
    };

  nodes.core =
    { ... }:
    {
      imports = [ module ];
      virtualisation.memorySize = 4096;
      virtualisation.cores = 2;
      services.nxthdr.kafka = {
        enable = true;
        clusterId = "bnh0aGRyLXZtLWZsb3dzIQ"; # base64url of 16 bytes
      };
      services.nxthdr.clickhouse.enable = true;
      services.nxthdr.pesto = {
        enable = true;
        openFirewall = true;
        settings.kafka.batch_wait_time = 200;
      };
    };

  nodes.src = {
    virtualisation.vlans = [ 2 ];
  };

  testScript = builtins.readFile ../../tests/scenarios/vm/flows_pipeline.py;
}
