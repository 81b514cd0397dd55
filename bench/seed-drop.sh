#!/bin/bash
# The bench's stand-in for a hand-written AR, in the style of the integration guide Palisade was asked
# from: bash, two jq runs to read the message, and one nft run per alert into a set bench/execd-burst.py
# creates beforehand (inet seed, set blocked). Like the guide's script, it sends no check_keys, so execd
# never answers it, and it checks nothing but an IPv4 pattern.
LOG_FILE="logs/active-responses.log"

log() {
    echo "$(date '+%Y-%m-%d %H:%M:%S') $1 [seed-drop] $2" >> "${LOG_FILE}"
}

read -r INPUT
COMMAND=$(echo "${INPUT}" | jq -r '.command')
SRCIP=$(echo "${INPUT}" | jq -r '.parameters.alert.data.srcip // empty')

if ! echo "${SRCIP}" | grep -qP '^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$'; then
    log "ERROR" "Invalid IP format: ${SRCIP}"
    exit 1
fi

case "${COMMAND}" in
    add)
        nft add element inet seed blocked "{ ${SRCIP} }"
        log "INFO" "Blocked IP: ${SRCIP}"
        ;;
    delete)
        nft delete element inet seed blocked "{ ${SRCIP} }"
        log "INFO" "Unblocked IP: ${SRCIP}"
        ;;
esac
exit 0
