"""The ``email_configs`` integration, with Alertmanager's keys: ``config`` (the settings),
``message`` (the MIME message with the default text and HTML bodies or the configured
templates), ``smtp`` (one SMTP conversation: STARTTLS, AUTH, the reply classified as
delivered / retry / give up). Queueing, retries and dead letters are the webhooks' own
(``alerter.notify.delivery``): the rendered message is the queued body."""
