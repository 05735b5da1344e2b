package main

import (
	"encoding/json"
	"fmt"

	"github.com/gozmp/zmp/core"
	"github.com/urfave/cli/v2"
)

func keygenCommand() *cli.Command {
	return &cli.Command{
		Name:      "keygen",
		Usage:     "write a CURVE key pair: NAME.key (public) and NAME.key_secret (mode 0600)",
		ArgsUsage: "NAME",
		Description: "The files use CZMQ's certificate format, which pyzmq's zmq.auth also reads.\n" +
			"Give NAME.key to the nodes that must admit this one (their --allow-keys directory);\n" +
			"keep NAME.key_secret private and pass it to this node with --curve-secret.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Value: ".", Usage: "directory to write the files in", EnvVars: []string{"ZMP_KEY_DIR"}},
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON", EnvVars: []string{"ZMP_JSON"}},
		},
		Action: func(c *cli.Context) error {
			args, err := argsOf(c, 1, 1)
			if err != nil {
				return err
			}
			kp, err := core.GenerateKeyPair()
			if err != nil {
				return err
			}
			pub, sec, err := kp.WriteFiles(c.String("dir"), args[0])
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return json.NewEncoder(c.App.Writer).Encode(map[string]string{"public_key": kp.Public.String(), "public_file": pub, "secret_file": sec})
			}
			fmt.Fprintf(c.App.Writer, "public key  %s\npublic file %s\nsecret file %s (mode 0600)\n", kp.Public, pub, sec)
			return nil
		},
	}
}
