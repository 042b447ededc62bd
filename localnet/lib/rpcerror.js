'use strict';
// JSON-RPC 2.0 errors with the codes a Solana RPC node uses, so clients (solana-go's jsonrpc.RPCError)
// surface them unchanged.

class RpcError extends Error {
  constructor(code, message, data) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

const CODES = {
  PARSE: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL: -32603,
  SEND_TX_PREFLIGHT_FAILURE: -32002,
  SIGNATURE_VERIFICATION_FAILURE: -32003,
  UNSUPPORTED_TX_VERSION: -32015,
};

function invalidParams(msg) {
  return new RpcError(CODES.INVALID_PARAMS, `Invalid params: ${msg}`);
}

module.exports = { RpcError, CODES, invalidParams };
