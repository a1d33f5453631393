"""Mail: rendering, calendar invitations, the outbox, delivery and transports."""
