"""Making the training data: structures -> CrystalNN labels -> FEFF spectra -> dataset shards."""
