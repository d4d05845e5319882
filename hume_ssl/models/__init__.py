"""Networks: the frozen-backbone registry, SSL encoders, WideResNets, the SSL backbone artifact."""
