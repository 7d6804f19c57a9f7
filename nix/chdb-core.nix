# chdb-core: the ClickHouse engine as a Python library (the `chdb` module),
# for the embedded store of `nxthdr appliance`, `nxthdr query` and the demo.
# nixpkgs has no chdb; building ClickHouse from source is out of proportion
# for an optional store, so this installs the upstream manylinux wheel and
# lets autoPatchelfHook point its libraries at glibc. The wheel bundles every
# other library it needs (checked with readelf: only glibc is NEEDED).
{
  lib,
  buildPythonPackage,
  fetchurl,
  autoPatchelfHook,
  pandas,
  pyarrow,
}:

buildPythonPackage rec {
  pname = "chdb-core";
  version = "26.9.0";
  format = "wheel";

  # The URL and sha256 are PyPI's own (https://pypi.org/simple/chdb-core/).
  src = fetchurl {
    url = "https://files.pythonhosted.org/packages/e2/60/543811d41d856a8a42b665d0e966d6ee518bc0b3cb487345acf812131ff0/chdb_core-${version}-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl";
    hash = "sha256-cH4uw/4PeVO6yXlC6ut6HtHWax5W7O8/CqITD2H25zU=";
  };

  nativeBuildInputs = [ autoPatchelfHook ];

  dependencies = [
    pandas
    pyarrow
  ];

  pythonImportsCheck = [ "chdb.session" ];

  meta = {
    description = "In-process OLAP SQL engine powered by ClickHouse (upstream wheel)";
    homepage = "https://github.com/chdb-io/chdb";
    license = lib.licenses.asl20;
    sourceProvenance = [ lib.sourceTypes.binaryNativeCode ];
    platforms = [ "x86_64-linux" ];
  };
}
