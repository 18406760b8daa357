"""policysite: XIMGO.COM's privacy policy site, consent banner and consent collector."""

__version__ = "0.1.0"
