"""Methods beside the Bayesian GAN (``bayesgan.module.BayesGAN``): one module per family or inference method,
each a LightningModule that honours ``bayesgan.protocol.GenerativeMethod`` and is chosen by ``conf/method``.

Import the classes from their modules (``bayesgan.methods.<module>.<Class>``); this package imports nothing,
so that adding a family touches no shared file."""
