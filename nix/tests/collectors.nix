# VM test: the broker and both collectors on one node; the collectors come
# up healthy against the real broker and count a BMP session and a datagram.
{ pkgs, module }:
pkgs.testers.runNixOSTest {
  name = "nxthdr-collectors";

  nodes.core =
    { pkgs, ... }:
    {
      imports = [ module ];
      virtualisation.memorySize = 3072;
      environment.systemPackages = [
        pkgs.curl
        pkgs.netcat
      ];
      services.nxthdr.kafka = {
        enable = true;
        clusterId = "bnh0aGRyLXZtLWNvbGxlYw"; # base64url of 16 bytes
      };
      services.nxthdr.risotto = {
        enable = true;
        openFirewall = true;
      };
      services.nxthdr.pesto = {
        enable = true;
        openFirewall = true;
        settings.metrics.address = "[::]:8081";
      };
    };

  testScript = ''
    core.wait_for_unit("apache-kafka.service")
    core.wait_for_unit("nxthdr-kafka-setup.service")
    core.wait_for_unit("risotto.service")
    core.wait_for_unit("pesto.service")
    core.wait_until_succeeds("curl -sf http://[::1]:8080/health")
    core.wait_until_succeeds("curl -sf http://[::1]:8081/health")

    # A BMP Initiation message (type 4, no TLVs) opens a session.
    core.succeed("printf '\\x03\\x00\\x00\\x00\\x06\\x04' | nc -N ::1 4000")
    core.wait_until_succeeds("curl -sf http://[::1]:8080/metrics | grep -q 'risotto_bmp_messages_total{.*type=\"initiation\"'")

    # A datagram that is not sFlow is counted, and pesto keeps serving.
    core.succeed("echo garbage | nc -u -w1 ::1 6343")
    core.wait_until_succeeds("curl -sf http://[::1]:8081/metrics | grep -q pesto_sflow_datagrams_total")
    core.succeed("curl -sf http://[::1]:8081/health")
  '';
}
