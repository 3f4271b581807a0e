"""Provider webhooks: public routes that verify the provider's signature themselves."""
