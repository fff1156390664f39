"""The packed GGT dataset: schema, packing, dataset card, validation and Hub upload."""
