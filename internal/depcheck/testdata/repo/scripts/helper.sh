#!/bin/sh
exec tool "$@"
