// Package obs builds the one logger and the admin (metrics) server each
// binary has, from the shared config.
package obs
