# The nxthdr Python application: collectors (risotto, pesto), the probing
# programs (saimiris) and the `nxthdr` entry point, with the Cap'n Proto and
# JSON schemas shipped as package data (nxthdr.schemas).
{
  lib,
  python3Packages,
  # chdb (the embedded ClickHouse engine) is not packaged in nixpkgs: the
  # embedded store stays an optional extra (pyproject `embedded`) and the
  # platform uses a ClickHouse server instead.
  withEmbeddedStore ? false,
}:

let
  pyproject = lib.importTOML ../pyproject.toml;
in
python3Packages.buildPythonApplication {
  pname = "nxthdr";
  inherit (pyproject.project) version;
  pyproject = true;

  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../pyproject.toml
      ../README.md
      ../nxthdr
      ../schemas
      ../tests
      # The ClickHouse table SQL (package data of nxthdr.clickhouse_tables).
      (lib.fileset.maybeMissing ../clickhouse-tables)
    ];
  };

  build-system = [ python3Packages.setuptools ];

  dependencies =
    with python3Packages;
    [
      pycapnp
      aiokafka
      clickhouse-connect
      prometheus-client
      pyyaml
      jsonschema
      aiohttp
      joserfc
      asyncpg
    ]
    ++ lib.optional withEmbeddedStore python3Packages.chdb;

  # The Cap'n Proto schemas also go where ClickHouse's format_schema_path
  # can point (services.nxthdr.clickhouse).
  postInstall = ''
    install -Dm444 -t $out/share/nxthdr/schemas schemas/*.capnp
  '';

  nativeCheckInputs = with python3Packages; [
    pytestCheckHook
    hypothesis
  ];

  # Unit tests only: tests marked `integration` need network namespaces
  # (root) and real routers; the Kafka broker and PostgreSQL fixtures skip
  # themselves when their programs are absent, as they are in the sandbox.
  disabledTestMarks = [ "integration" ];
  disabledTestPaths = [
    # These evaluate the Nix files themselves with nix-instantiate.
    "tests/nix"
  ];
  # The collectors' tests listen on loopback ports.
  __darwinAllowLocalNetworking = true;

  pythonImportsCheck = [
    "nxthdr"
    "nxthdr.risotto.cli"
    "nxthdr.pesto.cli"
    "nxthdr.saimiris.cli"
  ];

  meta = {
    description = pyproject.project.description;
    homepage = "https://github.com/nxthdr";
    license = lib.licenses.mit;
    mainProgram = "nxthdr";
    platforms = lib.platforms.linux;
  };
}
