"""`nxthdr appliance`: the single-node platform (collectors, storage, query endpoint) in one process."""
