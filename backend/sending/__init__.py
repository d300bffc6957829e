"""Sending: the one message-row builder; send now, later, cancel; batches; device sends;
one send per openid in flight; the pace."""
