"""What a run writes to TensorBoard: the event writer and scalar logging."""
