{
  imports = [
    ./clickhouse.nix
    ./kafka.nix
    ./pesto.nix
    ./risotto.nix
    ./saimiris-agent.nix
    ./saimiris-gateway.nix
    ./sflow-agent.nix
  ];
}
