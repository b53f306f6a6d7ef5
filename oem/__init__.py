"""The OEM's side: how the fleet is doing, by model, model year and software version."""
