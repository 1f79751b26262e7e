"""Wire definitions generated from proto/ (`make proto`). Both the bridge and the sandbox import these:
they are the protocol itself, not bridge logic."""
