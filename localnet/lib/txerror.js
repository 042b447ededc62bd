'use strict';
// Maps LiteSVM transaction errors (numbers and small classes from the native binding) to the JSON
// shape and the human messages of a real Solana RPC node (serde of TransactionError and its Display).

const internal = require('litesvm/dist/internal');

// Order matches litesvm's TransactionErrorFieldless enum (6 = AlreadyProcessed, 7 = BlockhashNotFound).
const TX_FIELDLESS = [
  'AccountInUse', 'AccountLoadedTwice', 'AccountNotFound', 'ProgramAccountNotFound', 'InsufficientFundsForFee',
  'InvalidAccountForFee', 'AlreadyProcessed', 'BlockhashNotFound', 'CallChainTooDeep', 'MissingSignatureForFee',
  'InvalidAccountIndex', 'SignatureFailure', 'InvalidProgramForExecution', 'SanitizeFailure', 'ClusterMaintenance',
  'AccountBorrowOutstanding', 'WouldExceedMaxBlockCostLimit', 'UnsupportedVersion', 'InvalidWritableAccount',
  'WouldExceedMaxAccountCostLimit', 'WouldExceedAccountDataBlockLimit', 'TooManyAccountLocks',
  'AddressLookupTableNotFound', 'InvalidAddressLookupTableOwner', 'InvalidAddressLookupTableData',
  'InvalidAddressLookupTableIndex', 'InvalidRentPayingAccount', 'WouldExceedMaxVoteCostLimit',
  'WouldExceedAccountDataTotalLimit', 'MaxLoadedAccountsDataSizeExceeded', 'ResanitizationNeeded',
  'InvalidLoadedAccountsDataSizeLimit', 'UnbalancedTransaction', 'ProgramCacheHitMaxLimit', 'CommitCancelled',
];

const TX_MESSAGES = {
  AccountInUse: 'Account in use',
  AccountLoadedTwice: 'Account loaded twice',
  AccountNotFound: 'Attempt to debit an account but found no record of a prior credit.',
  ProgramAccountNotFound: 'Attempt to load a program that does not exist',
  InsufficientFundsForFee: 'Insufficient funds for fee',
  InvalidAccountForFee: 'This account may not be used to pay transaction fees',
  AlreadyProcessed: 'This transaction has already been processed',
  BlockhashNotFound: 'Blockhash not found',
  MissingSignatureForFee: 'Transaction requires a fee but has no signature present',
  InvalidAccountIndex: 'Transaction contains an invalid account reference',
  SignatureFailure: 'Transaction did not pass signature verification',
  InvalidProgramForExecution: 'This program may not be used for executing instructions',
  SanitizeFailure: 'Transaction failed to sanitize accounts offsets correctly',
  UnsupportedVersion: 'Transaction version is unsupported',
  InvalidWritableAccount: 'Transaction loads a writable account that cannot be written',
  TooManyAccountLocks: 'Transaction locked too many accounts',
  AddressLookupTableNotFound: 'Transaction loads an address table account that doesn\'t exist',
  InvalidRentPayingAccount: 'Transaction leaves an account with a lower balance than rent-exempt minimum',
};

// Order matches litesvm's InstructionErrorFieldless enum.
const IX_FIELDLESS = [
  'GenericError', 'InvalidArgument', 'InvalidInstructionData', 'InvalidAccountData', 'AccountDataTooSmall',
  'InsufficientFunds', 'IncorrectProgramId', 'MissingRequiredSignature', 'AccountAlreadyInitialized',
  'UninitializedAccount', 'UnbalancedInstruction', 'ModifiedProgramId', 'ExternalAccountLamportSpend',
  'ExternalAccountDataModified', 'ReadonlyLamportChange', 'ReadonlyDataModified', 'DuplicateAccountIndex',
  'ExecutableModified', 'RentEpochModified', 'NotEnoughAccountKeys', 'AccountDataSizeChanged',
  'AccountNotExecutable', 'AccountBorrowFailed', 'AccountBorrowOutstanding', 'DuplicateAccountOutOfSync',
  'InvalidError', 'ExecutableDataModified', 'ExecutableLamportChange', 'ExecutableAccountNotRentExempt',
  'UnsupportedProgramId', 'CallDepth', 'MissingAccount', 'ReentrancyNotAllowed', 'MaxSeedLengthExceeded',
  'InvalidSeeds', 'InvalidRealloc', 'ComputationalBudgetExceeded', 'PrivilegeEscalation',
  'ProgramEnvironmentSetupFailure', 'ProgramFailedToComplete', 'ProgramFailedToCompile', 'Immutable',
  'IncorrectAuthority', 'AccountNotRentExempt', 'InvalidAccountOwner', 'ArithmeticOverflow', 'UnsupportedSysvar',
  'IllegalOwner', 'MaxAccountsDataAllocationsExceeded', 'MaxAccountsExceeded', 'MaxInstructionTraceLengthExceeded',
  'BuiltinProgramsMustConsumeComputeUnits', 'BorshIoError',
];

const IX_MESSAGES = {
  GenericError: 'generic instruction error',
  InvalidArgument: 'invalid program argument',
  InvalidInstructionData: 'invalid instruction data',
  InvalidAccountData: 'invalid account data for instruction',
  AccountDataTooSmall: 'account data too small for instruction',
  InsufficientFunds: 'insufficient funds for instruction',
  IncorrectProgramId: 'incorrect program id for instruction',
  MissingRequiredSignature: 'missing required signature for instruction',
  AccountAlreadyInitialized: 'instruction requires an uninitialized account',
  UninitializedAccount: 'instruction requires an initialized account',
  NotEnoughAccountKeys: 'insufficient account keys for instruction',
  ComputationalBudgetExceeded: 'Computational budget exceeded',
  PrivilegeEscalation: 'Cross-program invocation with unauthorized signer or writable account',
  IllegalOwner: 'Provided owner is not allowed',
  InvalidSeeds: 'Provided seeds do not result in a valid address',
  ExternalAccountLamportSpend: 'instruction spent from the balance of an account it does not own',
};

function words(name) {
  return name.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}

// toJSON converts a LiteSVM error value into the JSON of a Solana TransactionError.
function toJSON(e) {
  if (typeof e === 'number') return TX_FIELDLESS[e] || `UnknownTransactionError${e}`;
  if (e instanceof internal.TransactionErrorInstructionError) {
    const ie = e.err();
    let inner;
    if (typeof ie === 'number') inner = IX_FIELDLESS[ie] || `UnknownInstructionError${ie}`;
    else if (ie instanceof internal.InstructionErrorCustom) inner = { Custom: ie.code };
    else inner = 'BorshIoError';
    return { InstructionError: [e.index, inner] };
  }
  if (e instanceof internal.TransactionErrorDuplicateInstruction) return { DuplicateInstruction: e.index };
  if (e instanceof internal.TransactionErrorInsufficientFundsForRent) return { InsufficientFundsForRent: { account_index: e.accountIndex } };
  if (e instanceof internal.TransactionErrorProgramExecutionTemporarilyRestricted) {
    return { ProgramExecutionTemporarilyRestricted: { account_index: e.accountIndex } };
  }
  return String(e);
}

// message renders the JSON error as the sentence a Solana node prints for it.
function message(j) {
  if (typeof j === 'string') return TX_MESSAGES[j] || words(j);
  if (j && j.InstructionError) {
    const [idx, ie] = j.InstructionError;
    let m;
    if (ie && typeof ie === 'object' && 'Custom' in ie) m = `custom program error: 0x${ie.Custom.toString(16)}`;
    else m = IX_MESSAGES[ie] || words(String(ie));
    return `Error processing Instruction ${idx}: ${m}`;
  }
  if (j && 'DuplicateInstruction' in j) return `Transaction contains a duplicate instruction (${j.DuplicateInstruction}) that is not allowed`;
  if (j && j.InsufficientFundsForRent) return `Transaction results in an account (${j.InsufficientFundsForRent.account_index}) with insufficient funds for rent`;
  return JSON.stringify(j);
}

// landsOnChain tells whether a failed transaction is still recorded in a block (fee charged), as
// execution errors are, rather than dropped before execution.
function landsOnChain(j) {
  return typeof j === 'object' && j !== null;
}

module.exports = { toJSON, message, landsOnChain, TX_FIELDLESS };
