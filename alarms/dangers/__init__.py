"""Hidden dangers (隐患): records, their rectification loop, the rules that open them from
hazmon's own findings, and the ledger (docs/hidden-dangers.md)."""
